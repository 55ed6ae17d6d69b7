"""The HTTP front: GitHub webhooks and the task API, behind one API Gateway HTTP API."""
