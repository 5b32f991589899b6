"""What every HTTP route shares, under api/ and ogc/ alike: the request's transaction, its
settings and its caller (a bearer token and the role it needs)."""
