"""Linear as a place to hear back: the one comment, the pull request's attachment and the done
state on the Linear issue behind a task. (Requests from Linear come in through services/intake.)"""
