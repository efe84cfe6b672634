"""The AWS gateway: boto3 clients, the guarded call and wait, failure classification and key rotation."""
