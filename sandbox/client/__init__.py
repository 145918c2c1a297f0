"""The CLI's two back ends: `local` (the service layer, for operators on the server's
host) and `remote` (the server's HTTP API, for everyone else). Remote mode imports only
the standard library: no SQLAlchemy, no cloud SDKs."""
