/*
 * bench/exit-latency driver: measures the cost of one port-I/O exit under vmm against a minimal raw-KVM loop
 * (rawkvm, the physical limit), for a guest at ring 0 and at ring 3, and prints both side by side with their
 * ratio. The goal is vmm <= 1.1x raw.
 *
 * Method: every run is timed from spawn to exit on the host's monotonic clock, the same way for both
 * monitors. Each (monitor, ring) is run with N exits and with 0 exits; the difference of the medians over the
 * repetitions, divided by N, is the per-exit cost with process start-up, VM creation and teardown removed.
 * Runs of rawkvm and vmm are interleaved so that drift on the host hits both alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Build-time defaults (meson passes the build tree's paths); each can be overridden on the command line. */
#ifndef EXIT_LATENCY_VMM
#define EXIT_LATENCY_VMM "vmm"
#endif
#ifndef EXIT_LATENCY_RAWKVM
#define EXIT_LATENCY_RAWKVM "rawkvm"
#endif
#ifndef EXIT_LATENCY_GUEST
#define EXIT_LATENCY_GUEST "guest.elf"
#endif

#define EXIT_LATENCY_DEFAULT_N 100000
#define EXIT_LATENCY_DEFAULT_REPS 5
#define EXIT_LATENCY_MAX_REPS 101
#define EXIT_LATENCY_MAX_VMM_ARGS 16
#define EXIT_LATENCY_PARAMS_ADDR "0x200000"
#define EXIT_LATENCY_GOAL 1.10

extern char **environ;

typedef enum exit_latency_monitor {
    EXIT_LATENCY_RAW = 0,
    EXIT_LATENCY_VMM_MON = 1,
    EXIT_LATENCY_MONITORS = 2,
} exit_latency_monitor;

typedef struct exit_latency_config {
    const char *vmm;
    const char *rawkvm;
    const char *guest;
    const char *vmm_args[EXIT_LATENCY_MAX_VMM_ARGS];
    int n_vmm_args;
    uint64_t n;
    int reps;
    bool rings[4];
    bool raw_only;
    char tmpdir[64];
} exit_latency_config;

/* Medians for one (ring, monitor): total time with N exits and with none. */
typedef struct exit_latency_result {
    double full_ns;
    double empty_ns;
    double full_spread_ns; /* max - min of the N-exit runs: how far to trust the per-exit figure */
} exit_latency_result;

static const char *const exit_latency_monitor_names[EXIT_LATENCY_MONITORS] = {"rawkvm", "vmm"};

static void exit_latency_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void exit_latency_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("exit-latency: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void exit_latency_print_usage(FILE *out, int status)
{
    fprintf(out,
            "usage: exit-latency [options]\n"
            "  --vmm PATH        vmm binary (default %s)\n"
            "  --rawkvm PATH     raw-KVM reference loop (default %s)\n"
            "  --guest PATH      guest ELF (default %s)\n"
            "  -n N              port writes per measured run (default %d)\n"
            "  -r REPS           repetitions, the median is reported (default %d)\n"
            "  --ring 0|3        measure only this ring (repeatable; default both)\n"
            "  --vmm-arg ARG     extra argument appended to every vmm command line (repeatable)\n"
            "  --raw-only        measure rawkvm alone (no vmm needed)\n",
            EXIT_LATENCY_VMM, EXIT_LATENCY_RAWKVM, EXIT_LATENCY_GUEST, EXIT_LATENCY_DEFAULT_N,
            EXIT_LATENCY_DEFAULT_REPS);
    exit(status);
}

static uint64_t exit_latency_parse_u64(const char *opt, const char *s, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || end == s || s[0] == '-' || v > max)
        exit_latency_die("%s %s: expected a number up to %" PRIu64, opt, s, max);
    return (uint64_t)v;
}

static void exit_latency_parse_args(exit_latency_config *cfg, int argc, char **argv)
{
    bool any_ring = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes_value = strcmp(a, "--vmm") == 0 || strcmp(a, "--rawkvm") == 0 || strcmp(a, "--guest") == 0 ||
                           strcmp(a, "-n") == 0 || strcmp(a, "-r") == 0 || strcmp(a, "--ring") == 0 ||
                           strcmp(a, "--vmm-arg") == 0;
        if (takes_value && !v)
            exit_latency_die("%s needs a value", a);
        if (strcmp(a, "--vmm") == 0)
            cfg->vmm = v;
        else if (strcmp(a, "--rawkvm") == 0)
            cfg->rawkvm = v;
        else if (strcmp(a, "--guest") == 0)
            cfg->guest = v;
        else if (strcmp(a, "-n") == 0)
            cfg->n = exit_latency_parse_u64(a, v, UINT64_C(1) << 40);
        else if (strcmp(a, "-r") == 0)
            cfg->reps = (int)exit_latency_parse_u64(a, v, EXIT_LATENCY_MAX_REPS);
        else if (strcmp(a, "--ring") == 0) {
            uint64_t ring = exit_latency_parse_u64(a, v, 3);
            if (ring != 0 && ring != 3)
                exit_latency_die("--ring %s: the guest runs at ring 0 or 3", v);
            cfg->rings[ring] = true;
            any_ring = true;
        } else if (strcmp(a, "--vmm-arg") == 0) {
            if (cfg->n_vmm_args == EXIT_LATENCY_MAX_VMM_ARGS)
                exit_latency_die("too many --vmm-arg (at most %d)", EXIT_LATENCY_MAX_VMM_ARGS);
            cfg->vmm_args[cfg->n_vmm_args++] = v;
        } else if (strcmp(a, "--raw-only") == 0) {
            cfg->raw_only = true;
            continue;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            exit_latency_print_usage(stdout, 0);
        else {
            fprintf(stderr, "exit-latency: unknown option %s\n", a);
            exit_latency_print_usage(stderr, 2);
        }
        i++;
    }
    if (!any_ring)
        cfg->rings[0] = cfg->rings[3] = true;
    if (cfg->n == 0)
        exit_latency_die("-n 0: the per-exit cost is measured against a run with 0 exits, so N must be > 0");
    if (cfg->reps < 1)
        exit_latency_die("-r: at least one repetition");
}

/* Fail up front with the reason a run would fail, rather than after minutes of measurements. */
static void exit_latency_check_host(const exit_latency_config *cfg)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        exit_latency_die("/dev/kvm: %s", strerror(errno));
    close(fd);
    if (access(cfg->rawkvm, X_OK) != 0)
        exit_latency_die("rawkvm %s: %s (build it, or pass --rawkvm)", cfg->rawkvm, strerror(errno));
    if (access(cfg->guest, R_OK) != 0)
        exit_latency_die("guest %s: %s (build it, or pass --guest)", cfg->guest, strerror(errno));
    if (!cfg->raw_only && access(cfg->vmm, X_OK) != 0)
        exit_latency_die("vmm %s: %s (build it, pass --vmm, or use --raw-only)", cfg->vmm, strerror(errno));
}

static void exit_latency_format_params_path(const exit_latency_config *cfg, int ring, uint64_t n, char *buf, size_t len)
{
    snprintf(buf, len, "%s/params-r%d-n%" PRIu64 ".bin", cfg->tmpdir, ring, n);
}

/* The 16-byte block guest.S reads at 0x200000: u64 N, u64 ring, little-endian like the guest. */
static void exit_latency_write_params(const exit_latency_config *cfg, int ring, uint64_t n)
{
    char path[PATH_MAX];
    exit_latency_format_params_path(cfg, ring, n, path, sizeof(path));
    uint64_t block[2] = {n, (uint64_t)ring};
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(block, sizeof(block), 1, f) != 1 || fclose(f) != 0)
        exit_latency_die("%s: %s", path, strerror(errno));
}

static void exit_latency_dump_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof(line), f) && lines++ < 40)
        fprintf(stderr, "    %s", line);
    fclose(f);
}

static bool exit_latency_search_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static void exit_latency_remove_tmpdir(const exit_latency_config *cfg);

static double exit_latency_read_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Runs one monitor once; returns its wall time in ns. Any unexpected outcome ends the bench with the output. */
static double exit_latency_run_once(const exit_latency_config *cfg, exit_latency_monitor mon, int ring, uint64_t n)
{
    char params[PATH_MAX], image[PATH_MAX + 32], log[PATH_MAX];
    exit_latency_format_params_path(cfg, ring, n, params, sizeof(params));
    snprintf(image, sizeof(image), "%s@%s", params, EXIT_LATENCY_PARAMS_ADDR);
    snprintf(log, sizeof(log), "%s/output.log", cfg->tmpdir);

    const char *argv[32 + EXIT_LATENCY_MAX_VMM_ARGS];
    int argc = 0;
    int expected_status;
    if (mon == EXIT_LATENCY_RAW) {
        argv[argc++] = cfg->rawkvm;
        argv[argc++] = "--mem";
        argv[argc++] = "64";
        argv[argc++] = cfg->guest;
        argv[argc++] = image;
        expected_status = 0;
    } else {
        argv[argc++] = cfg->vmm;
        argv[argc++] = "run";
        argv[argc++] = "--arch";
        argv[argc++] = "x86-raw";
        argv[argc++] = "--mem";
        argv[argc++] = "64M";
        argv[argc++] = "--image";
        argv[argc++] = cfg->guest;
        argv[argc++] = "--image";
        argv[argc++] = image;
        argv[argc++] = "--device";
        argv[argc++] = "debug-exit";
        for (int i = 0; i < cfg->n_vmm_args; i++)
            argv[argc++] = cfg->vmm_args[i];
        /* debug-exit with 0x10 makes vmm exit with (0x10 << 1) | 1, a status no fault produces. */
        expected_status = 33;
    }
    argv[argc] = NULL;

    /* Output goes to a file, not a pipe, so a chatty monitor can never block on a full pipe mid-measurement. */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);

    double t0 = exit_latency_read_clock_ns();
    pid_t pid;
    int err = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    if (err)
        exit_latency_die("%s: %s", argv[0], strerror(err));
    int wstatus;
    while (waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR)
            exit_latency_die("waitpid: %s", strerror(errno));
    }
    double t1 = exit_latency_read_clock_ns();
    posix_spawn_file_actions_destroy(&fa);

    /* A vmm run only counts when it also said nothing about an error. */
    bool reported_error = mon == EXIT_LATENCY_VMM_MON && exit_latency_search_file(log, "error");
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != expected_status || reported_error) {
        fprintf(stderr, "exit-latency: %s (ring %d, N=%" PRIu64 ") ", exit_latency_monitor_names[mon], ring, n);
        if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == expected_status)
            fprintf(stderr, "exited with status %d but reported an error\n", WEXITSTATUS(wstatus));
        else if (WIFEXITED(wstatus))
            fprintf(stderr, "exited with status %d, expected %d\n", WEXITSTATUS(wstatus), expected_status);
        else if (WIFSIGNALED(wstatus))
            fprintf(stderr, "was killed by signal %d (%s)\n", WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
        fprintf(stderr, "  command:");
        for (int i = 0; i < argc; i++)
            fprintf(stderr, " %s", argv[i]);
        fprintf(stderr, "\n  output:\n");
        exit_latency_dump_file(log);
        exit_latency_remove_tmpdir(cfg);
        exit(1);
    }
    return t1 - t0;
}

static int exit_latency_compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double exit_latency_compute_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), exit_latency_compare_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void exit_latency_measure_ring(const exit_latency_config *cfg, int ring,
                                      exit_latency_result res[EXIT_LATENCY_MONITORS])
{
    double full[EXIT_LATENCY_MONITORS][EXIT_LATENCY_MAX_REPS];
    double empty[EXIT_LATENCY_MONITORS][EXIT_LATENCY_MAX_REPS];
    int monitors = cfg->raw_only ? 1 : EXIT_LATENCY_MONITORS;

    for (int rep = 0; rep < cfg->reps; rep++) {
        for (int m = 0; m < monitors; m++) {
            full[m][rep] = exit_latency_run_once(cfg, (exit_latency_monitor)m, ring, cfg->n);
            empty[m][rep] = exit_latency_run_once(cfg, (exit_latency_monitor)m, ring, 0);
        }
        /* Progress on a terminal only: under ninja or a pipe, carriage returns would just pile up. */
        if (isatty(STDERR_FILENO))
            fprintf(stderr, "\rexit-latency: ring %d, repetition %d/%d", ring, rep + 1, cfg->reps);
    }
    if (isatty(STDERR_FILENO))
        fputc('\n', stderr);
    for (int m = 0; m < monitors; m++) {
        res[m].full_ns = exit_latency_compute_median(full[m], cfg->reps);
        res[m].empty_ns = exit_latency_compute_median(empty[m], cfg->reps);
        res[m].full_spread_ns = full[m][cfg->reps - 1] - full[m][0]; /* sorted by the median */
    }
}

static double exit_latency_compute_ns_per_exit(const exit_latency_config *cfg, const exit_latency_result *r)
{
    return (r->full_ns - r->empty_ns) / (double)cfg->n;
}

static void exit_latency_print_table(const exit_latency_config *cfg, exit_latency_result res[4][EXIT_LATENCY_MONITORS])
{
    int monitors = cfg->raw_only ? 1 : EXIT_LATENCY_MONITORS;
    printf("exit-latency: N=%" PRIu64 " null-port writes per run, median of %d repetitions, start-up removed "
           "with N=0 runs\n"
           "(spread: max - min of the N-exit runs, relative to N x ns/exit)\n",
           cfg->n, cfg->reps);
    printf("%-5s %-8s %10s %10s %9s %12s %9s\n", "ring", "monitor", "ns/exit", "exits/s", "spread", "start-up ms",
           "vmm/raw");
    for (int ring = 0; ring < 4; ring++) {
        if (!cfg->rings[ring])
            continue;
        double raw = exit_latency_compute_ns_per_exit(cfg, &res[ring][EXIT_LATENCY_RAW]);
        for (int m = 0; m < monitors; m++) {
            double ns = exit_latency_compute_ns_per_exit(cfg, &res[ring][m]);
            char ratio[32] = "";
            if (m == EXIT_LATENCY_VMM_MON)
                snprintf(ratio, sizeof(ratio), "%.3fx", ns / raw);
            char spread[32];
            snprintf(spread, sizeof(spread), "%.1f%%", 100.0 * res[ring][m].full_spread_ns / (ns * (double)cfg->n));
            printf("%-5d %-8s %10.0f %10.0f %9s %12.1f %9s\n", ring, exit_latency_monitor_names[m], ns,
                   ns > 0 ? 1e9 / ns : 0.0, spread, res[ring][m].empty_ns / 1e6, ratio);
        }
    }
    if (cfg->raw_only)
        return;
    for (int ring = 0; ring < 4; ring++) {
        if (!cfg->rings[ring])
            continue;
        double ratio = exit_latency_compute_ns_per_exit(cfg, &res[ring][EXIT_LATENCY_VMM_MON]) /
                       exit_latency_compute_ns_per_exit(cfg, &res[ring][EXIT_LATENCY_RAW]);
        printf("ring %d: vmm/raw %.3fx, goal <= %.2fx: %s\n", ring, ratio, EXIT_LATENCY_GOAL,
               ratio <= EXIT_LATENCY_GOAL ? "met" : "NOT met");
    }
}

static void exit_latency_remove_tmpdir(const exit_latency_config *cfg)
{
    char path[PATH_MAX];
    for (int ring = 0; ring < 4; ring++) {
        exit_latency_format_params_path(cfg, ring, cfg->n, path, sizeof(path));
        unlink(path);
        exit_latency_format_params_path(cfg, ring, 0, path, sizeof(path));
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/output.log", cfg->tmpdir);
    unlink(path);
    rmdir(cfg->tmpdir);
}

int main(int argc, char **argv)
{
    exit_latency_config cfg = {
        .vmm = EXIT_LATENCY_VMM,
        .rawkvm = EXIT_LATENCY_RAWKVM,
        .guest = EXIT_LATENCY_GUEST,
        .n = EXIT_LATENCY_DEFAULT_N,
        .reps = EXIT_LATENCY_DEFAULT_REPS,
    };
    exit_latency_parse_args(&cfg, argc, argv);
    exit_latency_check_host(&cfg);

    snprintf(cfg.tmpdir, sizeof(cfg.tmpdir), "/tmp/exit-latency.XXXXXX");
    if (!mkdtemp(cfg.tmpdir))
        exit_latency_die("mkdtemp: %s", strerror(errno));
    exit_latency_result res[4][EXIT_LATENCY_MONITORS];
    memset(res, 0, sizeof(res));
    for (int ring = 0; ring < 4; ring++) {
        if (!cfg.rings[ring])
            continue;
        exit_latency_write_params(&cfg, ring, cfg.n);
        exit_latency_write_params(&cfg, ring, 0);
        exit_latency_measure_ring(&cfg, ring, res[ring]);
    }
    exit_latency_remove_tmpdir(&cfg);
    exit_latency_print_table(&cfg, res);
    return 0;
}
