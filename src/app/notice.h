/* notice.h - the executable's own diagnostics on stderr ("draining", "bye"), written so that
 * they never stop the loop: stderr may be a pipe nobody reads. A line that does not fit now is
 * dropped. Loop thread (or before the loop runs). */
#ifndef UVFIB_APP_NOTICE_H
#define UVFIB_APP_NOTICE_H

/* Opens a descriptor of our own onto stderr in non-blocking mode when stderr is a pipe or a
 * terminal (O_NONBLOCK on stderr itself would change it for every process sharing it, a
 * shell's terminal included). @return the descriptor notices go to, which the access log
 * shares when it goes to stderr: the new one, or STDERR_FILENO (a socket, a file, or no
 * /proc). */
int notice_open(void);

/* Closes what notice_open() opened. */
void notice_close(void);

/* Writes one line, formatted as printf does (a newline is added), at once or not at all. */
void notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* UVFIB_APP_NOTICE_H */
