"""Infrastructure other than the database, behind the ports the domain declares.

Each module implements a ``typing.Protocol`` of ``domain/`` with a library (bcrypt, PyJWT, the ML
client, SMTP, webhook delivery); the composition root (``service.runtime``) builds them and
hands them to the use cases. Adapters import the domain, never the reverse.
"""
