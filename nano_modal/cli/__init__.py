"""The nano-modal command line."""
