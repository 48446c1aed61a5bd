"""keylint's rules, one per module; imported as `keylint.rules` (never as a top-level `rules`)."""
