"""fixed_client: an etcd v3 client whose watch streams are keyed by stable metadata."""
