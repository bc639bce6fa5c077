"""The API's routers, one module per resource; each route's minimum role is in its docstring."""
