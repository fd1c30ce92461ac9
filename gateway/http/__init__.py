"""The aiohttp application: routes, middlewares, OpenAPI."""
