/* Baseline for bench/throughput.sh: run a command COUNT times, JOBS at a time, with plain
 * posix_spawn and waitpid, and nothing else (no capture, no timeouts, no bookkeeping). */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s JOBS COUNT PROGRAM [ARGS...]\n", argv[0]);
        return 2;
    }
    long jobs = strtol(argv[1], NULL, 10);
    long count = strtol(argv[2], NULL, 10);
    long started = 0, running = 0, failed = 0;
    while (started < count || running > 0) {
        while (running < jobs && started < count) {
            pid_t pid;
            if (posix_spawn(&pid, argv[3], NULL, NULL, &argv[3], environ) != 0) {
                perror("posix_spawn");
                return 2;
            }
            started++;
            running++;
        }
        int status;
        if (waitpid(-1, &status, 0) > 0) {
            running--;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
        }
    }
    printf("%ld runs, %ld failed\n", count, failed);
    return 0;
}
