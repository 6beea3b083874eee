"""The lab censor: one agent per ISP (resolver, firewall, middlebox, blockpage server)."""
