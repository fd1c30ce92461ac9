"""The tamper-evident access log: hash chain, RFC 6962 Merkle tree, signed checkpoints, witnesses, offline verification."""
