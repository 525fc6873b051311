"""The workspace's routes, one router per area: the session (login, logout, style sheets), the pages, users, the API."""
