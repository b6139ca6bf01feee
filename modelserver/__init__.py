"""The reference model server: Open Inference Protocol v2 over ``openapi/inference-v2.yaml``.

A separate service that happens to live in this repository; it imports nothing of the backend.
"""
