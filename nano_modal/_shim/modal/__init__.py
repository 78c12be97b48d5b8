"""`modal` inside nano-modal containers: nano_modal itself (see nano_modal/_modal_alias.py)."""

from nano_modal._modal_alias import install_as_modal

install_as_modal()  # replaces this module in sys.modules: `import modal` returns nano_modal
