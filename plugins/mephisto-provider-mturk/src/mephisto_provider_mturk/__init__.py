"""The `mturk` and `mturk_sandbox` crowd providers: Amazon Mechanical Turk through boto3."""
