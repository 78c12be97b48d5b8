"""Tests for nano_modal.container."""
