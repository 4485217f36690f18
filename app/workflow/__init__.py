"""Agreement lifecycles: definitions read from workflows/*.yaml, and one engine that applies them."""
