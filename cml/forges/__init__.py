"""Forge adapters and CI-environment detection."""
