/*
 * udp-echo: the ceiling for a UDP DNS server on this machine. It sends
 * every datagram back to where it came from, unchanged, with the same
 * system calls as ward's UDP fast path: recvmmsg (MSG_WAITFORONE, 32 at a
 * time) and one sendmmsg per batch. dnsperf takes an echoed query as its
 * answer (same ID, RCODE 0), so its answers per CPU-second are what no
 * DNS server using these calls can beat: no parsing, no lookup, no
 * encoding. Used by bench/ceiling.sh.
 *
 *   udp-echo 127.0.0.1 PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 32
#define SIZE 4096

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: udp-echo ADDRESS PORT\n");
        return 64;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    int rcvbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
        fprintf(stderr, "udp-echo: bad address %s\n", argv[1]);
        return 64;
    }
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("bind");
        return 1;
    }
    static char bufs[BATCH][SIZE];
    static struct sockaddr_in from[BATCH];
    static struct iovec iov[BATCH];
    static struct mmsghdr msgs[BATCH];
    fprintf(stderr, "udp-echo: listening on %s:%s\n", argv[1], argv[2]);
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = SIZE;
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof from[i];
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0) {
            continue;
        }
        for (int i = 0; i < n; i++) {
            iov[i].iov_len = msgs[i].msg_len;
        }
        int sent = 0;
        while (sent < n) {
            int k = sendmmsg(fd, msgs + sent, n - sent, MSG_DONTWAIT);
            if (k <= 0) {
                break;
            }
            sent += k;
        }
    }
}
