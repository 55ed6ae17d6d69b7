"""Costs: the usage ledger, the GenAI telemetry of every model and agent call, and budgets.

``record`` is the one way a call is counted: the OpenAI-compatible adapter calls it for each
chat completion (through the ``usage_sink`` the provider is built with, so any caller of that
adapter is counted), and the agent-run paths call ``record_agent_run`` when a run ends.
"""
