"""Core test helpers live in core_ddp_workers.py; the DDP runs themselves are in tests/representation/ddp."""
