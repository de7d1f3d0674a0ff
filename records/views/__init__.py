"""Views of the register, one module per area; records/urls.py wires them."""
