"""Firewall and management-plane review: read rule bases, find what exposes the client."""
