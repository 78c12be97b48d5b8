"""Tests import helpers from here."""
