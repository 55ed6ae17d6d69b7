"""Slack notifications: each task's one message in its repository's channel, kept up to date."""
