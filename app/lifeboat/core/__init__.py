"""Pure logic and local file work: no Qt, no network."""
