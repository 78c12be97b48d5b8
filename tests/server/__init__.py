"""Tests for nano_modal.server."""
