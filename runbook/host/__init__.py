"""One host: the SSH connection and its host keys, the inventory and project config, remote file
and command helpers, the app's services and HTTP requests made from the host."""
