# nov/30/2026 09:00:00 by RouterOS 7.12.1
# software id = AB12-CD34
#
# model = RB4011iGS+
/interface bridge
add admin-mac=48:8F:5A:00:00:01 auto-mac=no comment=defconf name=bridge
/interface list
add comment=defconf name=WAN
add comment=defconf name=LAN
/ip ipsec profile
set [ find default=yes ] dh-group=modp1024 enc-algorithm=3des hash-algorithm=md5
/ip ipsec proposal
set [ find default=yes ] enc-algorithms=3des pfs-group=none
/interface bridge port
add bridge=bridge comment=defconf interface=ether2
add bridge=bridge comment=defconf interface=ether3
/interface list member
add comment=defconf interface=bridge list=LAN
add comment=defconf interface=ether1 list=WAN
/interface l2tp-server server
set enabled=yes ipsec-secret=L2TPSECRETVALUE use-ipsec=yes
/ip address
add address=192.168.88.1/24 comment=defconf interface=bridge network=192.168.88.0
add address=203.0.113.34/29 interface=ether1 network=203.0.113.32
/ip firewall address-list
add address=192.168.88.0/25 list=mgmt
add address=192.168.88.128/25 list=mgmt
add address=vpn.example.com list=partners
/ip firewall filter
add action=accept chain=input comment="defconf: accept established,related,untracked" \
    connection-state=established,related,untracked
add action=drop chain=input comment="defconf: drop invalid" connection-state=invalid
add action=accept chain=input comment="defconf: accept ICMP" protocol=icmp
add action=accept chain=input comment="winbox from mgmt" dst-port=8291 protocol=tcp \
    src-address-list=mgmt
add action=accept chain=input comment="ssh from anywhere" dst-port=22 protocol=tcp
add action=drop chain=input comment="defconf: drop all not coming from LAN" \
    in-interface-list=!LAN
add action=jump chain=forward jump-target=customer-in
add action=fasttrack-connection chain=forward comment="defconf: fasttrack" \
    connection-state=established,related hw-offload=yes
add action=accept chain=forward comment="defconf: accept established,related, untracked" \
    connection-state=established,related,untracked
add action=drop chain=forward comment="defconf: drop invalid" connection-state=invalid
add action=drop chain=forward comment="defconf: drop all from WAN not DSTNATed" \
    connection-nat-state=!dstnat connection-state=new in-interface-list=WAN
add action=accept chain=customer-in dst-address=192.168.88.10 dst-port=3389 \
    protocol=tcp comment="rdp to ts"
add action=accept chain=customer-in disabled=yes dst-address=192.168.88.20 dst-port=445 \
    protocol=tcp log=yes
/ip firewall nat
add action=masquerade chain=srcnat comment="defconf: masquerade" \
    ipsec-policy=out,none out-interface-list=WAN
add action=dst-nat chain=dstnat comment="rdp forward" dst-port=3389 in-interface-list=WAN \
    protocol=tcp to-addresses=192.168.88.10 to-ports=3389
/ip route
add disabled=no dst-address=0.0.0.0/0 gateway=203.0.113.33
/ip service
set telnet disabled=yes
set ftp disabled=yes
set www address=192.168.88.0/24
set api disabled=yes
set api-ssl disabled=yes
/ppp secret
add name=roadwarrior password=PPPSECRETVALUE profile=default-encryption service=l2tp
add name=isp password=PPPOESECRET service=pppoe
/snmp
set enabled=yes
/system identity
set name=gw1
/user
add group=full name=backupadmin password=USERSECRETVALUE
