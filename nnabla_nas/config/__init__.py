"""Run configs: typed schema, safe YAML loading, validation with dotted keys."""
