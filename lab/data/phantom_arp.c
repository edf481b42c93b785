// ARP-only "phantom" hosts for the large lab, as a tc ingress program on the technician's
// bridge port. Compiled by lab/phantoms.py at `lab up --size large` with the constants below
// passed as -D flags (the Python side computes the same set for the manifest).
//
// For a frame the technician sends:
//   ARP request for a phantom address  -> answered in place with the phantom's MAC and sent
//                                        straight back to the technician (never reaches the
//                                        bridge, so ~4000 answering hosts cost no namespaces)
//   IPv4 to a TCP phantom              -> destination MAC rewritten to the TCP phantoms'
//                                        namespace, then the bridge, as usual
//   ARP or IPv4 to any other address in the large range outside the real /24s -> dropped, so
//                                        a /16 sweep is not flooded to every real host's port
//   everything else                    -> the bridge, as usual
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef LARGE_NET            // 198.18.0.0/16
#define LARGE_NET 0xC6120000
#define LARGE_MASK 0xFFFF0000
#endif
#ifndef REAL_MASK            // the real hosts' /23: 198.18.0.0/24 and 198.18.1.0/24
#define REAL_NET 0xC6120000
#define REAL_MASK 0xFFFFFE00
#endif
#ifndef HASH_MUL             // phantom iff (ip * HASH_MUL) >> HASH_SHIFT == 0: ~1 in 16
#define HASH_MUL 2654435761u
#define HASH_SHIFT 28
#endif
#ifndef TCP_LOW               // TCP phantoms: the phantoms in 198.18.2.0 - 198.18.21.255
#define TCP_LOW 0xC6120200
#define TCP_HIGH 0xC61215FF
#define TCP_MAC 0x02, 0x6b, 0x74, 0x00, 0x00, 0x01
#endif
#ifndef PHANTOM_OUIS
#define PHANTOM_OUIS 0x001422, 0x3cd92b, 0x001b21, 0x00155d, 0x00000c, 0x24a43c, 0x0004f2, 0x001132
#endif

static const __u32 ouis[8] = {PHANTOM_OUIS};
static const __u8 tcp_mac[6] = {TCP_MAC};

struct arp_eth_ipv4 {
    __be16 htype;
    __be16 ptype;
    __u8 hlen;
    __u8 plen;
    __be16 op;
    __u8 sha[6];
    __u8 spa[4];
    __u8 tha[6];
    __u8 tpa[4];
} __attribute__((packed));

static __always_inline int is_phantom(__u32 ip)
{
    __u8 last = ip & 0xff;
    if ((ip & LARGE_MASK) != LARGE_NET || (ip & REAL_MASK) == REAL_NET)
        return 0;
    if (last == 0 || last == 255)
        return 0;
    return ((__u32)(ip * HASH_MUL) >> HASH_SHIFT) == 0;
}

static __always_inline int is_tcp_phantom(__u32 ip)
{
    return ip >= TCP_LOW && ip <= TCP_HIGH && is_phantom(ip);
}

static __always_inline int outside_real(__u32 ip)
{
    return (ip & LARGE_MASK) == LARGE_NET && (ip & REAL_MASK) != REAL_NET;
}

SEC("tc")
int phantom_arp(struct __sk_buff *skb)
{
    bpf_skb_pull_data(skb, sizeof(struct ethhdr) + sizeof(struct arp_eth_ipv4));
    void *data = (void *)(long)skb->data;
    void *end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        return TC_ACT_OK;

    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *iph = (void *)(eth + 1);
        if ((void *)(iph + 1) > end)
            return TC_ACT_OK;
        __u32 daddr = bpf_ntohl(iph->daddr);
        if (is_tcp_phantom(daddr)) {
            __builtin_memcpy(eth->h_dest, tcp_mac, 6);
            return TC_ACT_OK;
        }
        return outside_real(daddr) ? TC_ACT_SHOT : TC_ACT_OK;
    }
    if (eth->h_proto != bpf_htons(ETH_P_ARP))
        return TC_ACT_OK;
    struct arp_eth_ipv4 *arp = (void *)(eth + 1);
    if ((void *)(arp + 1) > end)
        return TC_ACT_OK;
    if (arp->htype != bpf_htons(1) || arp->ptype != bpf_htons(ETH_P_IP) ||
        arp->op != bpf_htons(1))
        return TC_ACT_OK;

    __u32 target = ((__u32)arp->tpa[0] << 24) | ((__u32)arp->tpa[1] << 16) |
                   ((__u32)arp->tpa[2] << 8) | arp->tpa[3];
    if (!outside_real(target))
        return TC_ACT_OK;
    if (!is_phantom(target))
        return TC_ACT_SHOT;

    // The phantom's MAC: a vendor OUI picked by the address, then the address's low 3 bytes.
    __u32 oui = ouis[(target >> 8) & 7];
    __u8 mac[6] = {oui >> 16, oui >> 8, oui, target >> 16, target >> 8, target};
    __u8 requester_ip[4];

    __builtin_memcpy(eth->h_dest, arp->sha, 6);
    __builtin_memcpy(eth->h_source, mac, 6);
    arp->op = bpf_htons(2);
    __builtin_memcpy(requester_ip, arp->spa, 4);
    __builtin_memcpy(arp->tha, arp->sha, 6);
    __builtin_memcpy(arp->spa, arp->tpa, 4);
    __builtin_memcpy(arp->sha, mac, 6);
    __builtin_memcpy(arp->tpa, requester_ip, 4);
    // Out of the same port again: the technician receives the reply.
    return bpf_redirect(skb->ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
