"""The local stack: everything on one machine, no AWS account (``make dev``)."""
