"""The network diagram: neighbour, MAC-table and ARP facts from the devices keyturn reaches,
turned into a model (devices, links, hosts on access ports, subnets, VLANs), a diff between
runs, and drawings (Graphviz SVG, draw.io, dot, GraphML).

A domain package: it never prints and never opens a session itself; the use case
(``agent.ops.topology``) hands it a way to run read-only commands on each device.
"""
