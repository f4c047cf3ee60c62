"""Who may do what: callers (API keys, OpenID Connect tokens), their roles, the route policy."""
