"""The `ec2` architect: provisions an EC2 instance running the standalone router behind HTTPS."""
