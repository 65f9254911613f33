"""Sites: the registry, the cached snapshot of a site and its policy, the site's settings
with their defaults, and the origin and host checks. Below consent and collection, which
both ask about sites; above only configuration, extensions and models."""
