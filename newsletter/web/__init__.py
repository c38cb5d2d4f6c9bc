"""HTTP handlers: parse input, call a service, commit, then enqueue."""
