/* ss_craft: writes one snapshot into a state database through the store alone, with whatever metadata the test
 * gives, so the tests can hand vmm databases it would never write itself (no VM, no KVM needed).
 * usage: ss_craft DB NAME [parent=P] [ram=BYTES] [cpus=N] [arch=A] [config=TEXT ('|' for a newline)] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ss_craft DB NAME [parent=P] [ram=BYTES] [cpus=N] [arch=A] [config=TEXT]\n");
        return 2;
    }
    ss_meta m;
    memset(&m, 0, sizeof(m));
    snprintf(m.name, sizeof(m.name), "%s", argv[2]);
    snprintf(m.arch, sizeof(m.arch), "x86-raw");
    snprintf(m.vmm_version, sizeof(m.vmm_version), "ss_craft");
    m.ram_size = 64ull << 20;
    m.cpus = 1;
    for (int i = 3; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "ss_craft: %s: not KEY=VALUE\n", argv[i]);
            return 2;
        }
        const char *v = eq + 1;
        size_t kl = (size_t)(eq - argv[i]);
        if (!strncmp(argv[i], "parent", kl))
            snprintf(m.parent, sizeof(m.parent), "%s", v);
        else if (!strncmp(argv[i], "ram", kl))
            m.ram_size = strtoull(v, NULL, 0);
        else if (!strncmp(argv[i], "cpus", kl))
            m.cpus = (uint32_t)strtoul(v, NULL, 0);
        else if (!strncmp(argv[i], "arch", kl))
            snprintf(m.arch, sizeof(m.arch), "%s", v);
        else if (!strncmp(argv[i], "config", kl)) {
            snprintf(m.config, sizeof(m.config), "%s", v);
            for (char *c = m.config; *c; c++)
                if (*c == '|')
                    *c = '\n';
        } else {
            fprintf(stderr, "ss_craft: %s: unknown key\n", argv[i]);
            return 2;
        }
    }
    char err[512];
    ss_store *st = ss_open(argv[1], 1, err, sizeof(err));
    ss_save *s = st ? ss_save_begin(st, &m, err, sizeof(err)) : NULL;
    if (!s || ss_save_commit(s, err, sizeof(err))) {
        fprintf(stderr, "ss_craft: %s\n", err);
        ss_close(st);
        return 1;
    }
    ss_close(st);
    return 0;
}
