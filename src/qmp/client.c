// SPDX-License-Identifier: MIT
/*
 * `tern qmp PATH [COMMAND [ARGUMENTS]]`: a QMP client. It reads the
 * greeting, negotiates capabilities, then either runs one command and
 * prints the reply, or reads commands from stdin: on a terminal with a small
 * line editor (no readline) that keeps the line intact while events are
 * printed above it, otherwise line by line for scripts.
 *
 * Arguments are one JSON object (`'{"uri": "tcp:..."}'`) or key=value
 * words whose values are JSON scalars when they parse as one and strings
 * otherwise (`cpu-index=0`, `uri=tcp:host:4444`).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "client.h"
#include "tern/vm.h"

#define CLIENT_HISTORY_MAX 100
#define CLIENT_PROMPT "(qmp) "

struct shell {
	struct conn *conn;
	bool tty;
	struct termios saved;
	GString *line;
	size_t cursor;
	GPtrArray *history; /* char * */
	guint hist_pos; /* == history->len: the line being edited */
	int esc; /* escape sequence state: 0 none, 1 after ESC, 2 after CSI */
	char esc_param;
	bool failed; /* some command got an error reply */
};

static const char client_usage[] =
	"Usage: tern qmp PATH [COMMAND [ARGUMENTS]]\n"
	"\n"
	"Connect to tern's (or QEMU's) QMP socket at PATH and negotiate\n"
	"capabilities. With a COMMAND, run it, print the reply as indented JSON\n"
	"and exit 0, or 1 on an error reply. Without one, read commands from\n"
	"stdin (with line editing and history on a terminal) and print replies\n"
	"and events as they arrive; Ctrl-D or 'exit' leaves.\n"
	"\n"
	"ARGUMENTS are one JSON object or key=value words (a value that is not\n"
	"JSON is a string). A line starting with '{' is sent as it is.\n"
	"\n"
	"Examples:\n"
	"  tern qmp /run/vm.sock query-status\n"
	"  tern qmp /run/vm.sock migrate '{\"uri\": \"tcp:10.0.0.2:4444\"}'\n"
	"  tern qmp /run/vm.sock migrate uri=tcp:10.0.0.2:4444\n";

/* Terminal and output */

static void shell_raw(struct shell *sh, bool on)
{
	struct termios t = sh->saved;

	if (!sh->tty)
		return;
	if (on) {
		/* ^C and ^D are keys here, handled by the line editor. */
		t.c_lflag &= ~(ICANON | ECHO | ISIG | IEXTEN);
		t.c_iflag &= ~(IXON | ICRNL);
		t.c_cc[VMIN] = 1;
		t.c_cc[VTIME] = 0;
	}
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
}

static void shell_redraw(struct shell *sh)
{
	if (!sh->tty)
		return;
	printf("\r\x1b[K%s%s\r", CLIENT_PROMPT, sh->line->str);
	if (sh->cursor + strlen(CLIENT_PROMPT))
		printf("\x1b[%zuC", sh->cursor + strlen(CLIENT_PROMPT));
	fflush(stdout);
}

/*
 * Print a message, above the line being edited. A reply that cannot be
 * written (a full disk, a closed pipe) is an error, not a silent success:
 * false, said on stderr.
 */
static bool shell_print(struct shell *sh, json_object *msg)
{
	g_autofree char *text = qmp_json_format(msg, true);

	/* Output processing stays on in raw mode: "\n" is a new line. */
	printf("%s%s\n", sh->tty ? "\r\x1b[K" : "", text);
	if (fflush(stdout) == 0 && !ferror(stdout))
		return true;
	fprintf(stderr, "tern qmp: stdout: %s\n", g_strerror(errno));
	return false;
}

/* Requests */

/*
 * The reply to what was sent: 1 got it, 0 the server closed, -1 an error
 * (printed). Events meanwhile are printed when print, else skipped.
 */
static int shell_wait_reply(struct shell *sh, json_object **reply,
			    bool print)
{
	for (;;) {
		json_object *msg = NULL;
		int r = client_conn_recv(sh->conn, &msg);
		enum client_msg kind = r > 0 ? client_msg_kind(msg)
					      : CLIENT_MSG_BAD;
		bool ok = true;

		if (r <= 0)
			return r;
		if (kind == CLIENT_MSG_REPLY) {
			*reply = msg;
			return 1;
		}
		if (kind != CLIENT_MSG_EVENT) {
			fprintf(stderr,
				"tern qmp: the server sent a greeting where a reply was due\n");
			ok = false;
		} else if (print) {
			ok = shell_print(sh, msg);
		}
		json_object_put(msg);
		if (!ok)
			return -1;
	}
}

/* Send req and print its reply; false when the session is over. */
static bool shell_execute(struct shell *sh, json_object *req)
{
	json_object *reply = NULL;
	bool printed;

	if (!client_conn_send(sh->conn, req) ||
	    shell_wait_reply(sh, &reply, true) <= 0) {
		sh->failed = true;
		return false;
	}
	if (json_object_object_get_ex(reply, "error", NULL))
		sh->failed = true;
	printed = shell_print(sh, reply);
	json_object_put(reply);
	if (!printed)
		sh->failed = true;
	return printed;
}

/* One line typed or piped in; false to leave. */
static bool shell_run_line(struct shell *sh, const char *text)
{
	g_autofree char *line = g_strstrip(g_strdup(text));
	g_autoptr(json_object) req = NULL;
	g_autoptr(GError) err = NULL;

	if (!*line || *line == '#')
		return true;
	if (!strcmp(line, "exit"))
		return false;
	if (!strcmp(line, "help")) {
		printf("COMMAND [{JSON arguments} | key=value ...], a raw {JSON} request,\n"
		       "'query-commands' for the commands, 'exit' or Ctrl-D to leave.\n");
		return true;
	}
	if (*line == '{') {
		enum json_tokener_error e;

		req = json_tokener_parse_verbose(line, &e);
		if (!req)
			g_set_error(&err, QMP_ERROR, QMP_ERROR_GENERIC,
				    "%s", json_tokener_error_desc(e));
	} else {
		char *sp = line + strcspn(line, " \t");
		g_auto(GStrv) words = NULL;
		int n = 0;

		if (*sp) {
			*sp++ = '\0';
			sp = g_strchug(sp);
			if (*sp == '{') {
				words = g_new0(char *, 2);
				words[0] = g_strdup(sp);
				n = 1;
			} else if (*sp &&
				   !g_shell_parse_argv(sp, &n, &words, &err)) {
				n = -1;
			}
		}
		if (n >= 0)
			req = client_request_build(line, words, n, &err);
	}
	if (!req) {
		fprintf(stderr, "tern qmp: %s\n", err->message);
		sh->failed = true;
		return true;
	}
	return shell_execute(sh, req);
}

/* The line editor */

static void shell_history_add(struct shell *sh, const char *line)
{
	const char *last = sh->history->len
		? sh->history->pdata[sh->history->len - 1] : NULL;

	if (!*line || (last && !strcmp(last, line)))
		return;
	if (sh->history->len == CLIENT_HISTORY_MAX)
		g_ptr_array_remove_index(sh->history, 0);
	g_ptr_array_add(sh->history, g_strdup(line));
}

static void shell_history_move(struct shell *sh, int dir)
{
	guint to = sh->hist_pos + dir;

	if ((dir < 0 && !sh->hist_pos) || to > sh->history->len)
		return;
	sh->hist_pos = to;
	g_string_assign(sh->line, to < sh->history->len
			? (const char *)sh->history->pdata[to] : "");
	sh->cursor = sh->line->len;
}

/* One key of an escape sequence: arrows, Home, End, Delete. */
static void shell_escape(struct shell *sh, char ch)
{
	if (sh->esc == 1) {
		sh->esc = (ch == '[' || ch == 'O') ? 2 : 0;
		sh->esc_param = 0;
		return;
	}
	if (g_ascii_isdigit(ch)) {
		sh->esc_param = ch;
		return;
	}
	sh->esc = 0;
	switch (ch) {
	case 'A':
		shell_history_move(sh, -1);
		break;
	case 'B':
		shell_history_move(sh, 1);
		break;
	case 'C':
		if (sh->cursor < sh->line->len)
			sh->cursor++;
		break;
	case 'D':
		if (sh->cursor)
			sh->cursor--;
		break;
	case 'H':
		sh->cursor = 0;
		break;
	case 'F':
		sh->cursor = sh->line->len;
		break;
	case '~':
		if (sh->esc_param == '1' || sh->esc_param == '7')
			sh->cursor = 0;
		else if (sh->esc_param == '4' || sh->esc_param == '8')
			sh->cursor = sh->line->len;
		else if (sh->esc_param == '3' && sh->cursor < sh->line->len)
			g_string_erase(sh->line, sh->cursor, 1);
		break;
	}
}

/* Edit the line with one input byte; false to leave the shell. */
static bool shell_key(struct shell *sh, char ch)
{
	size_t start;

	if (sh->esc) {
		shell_escape(sh, ch);
		shell_redraw(sh);
		return true;
	}
	switch (ch) {
	case '\r':
	case '\n': {
		g_autofree char *line = g_strdup(sh->line->str);
		bool go_on;

		printf("\n");
		shell_history_add(sh, line);
		g_string_truncate(sh->line, 0);
		sh->cursor = 0;
		sh->hist_pos = sh->history->len;
		go_on = shell_run_line(sh, line);
		if (go_on)
			shell_redraw(sh);
		return go_on;
	}
	case 0x04: /* ^D: leave on an empty line, else delete */
		if (!sh->line->len) {
			printf("\n");
			return false;
		}
		if (sh->cursor < sh->line->len)
			g_string_erase(sh->line, sh->cursor, 1);
		break;
	case 0x03: /* ^C: drop the line */
		printf("^C\n");
		g_string_truncate(sh->line, 0);
		sh->cursor = 0;
		sh->hist_pos = sh->history->len;
		break;
	case 0x7f:
	case 0x08:
		if (sh->cursor) {
			g_string_erase(sh->line, --sh->cursor, 1);
		}
		break;
	case 0x01:
		sh->cursor = 0;
		break;
	case 0x05:
		sh->cursor = sh->line->len;
		break;
	case 0x02:
		if (sh->cursor)
			sh->cursor--;
		break;
	case 0x06:
		if (sh->cursor < sh->line->len)
			sh->cursor++;
		break;
	case 0x0b: /* ^K */
		g_string_truncate(sh->line, sh->cursor);
		break;
	case 0x15: /* ^U */
		g_string_erase(sh->line, 0, sh->cursor);
		sh->cursor = 0;
		break;
	case 0x17: /* ^W: the word before the cursor */
		start = sh->cursor;
		while (start && sh->line->str[start - 1] == ' ')
			start--;
		while (start && sh->line->str[start - 1] != ' ')
			start--;
		g_string_erase(sh->line, start, sh->cursor - start);
		sh->cursor = start;
		break;
	case 0x10: /* ^P */
		shell_history_move(sh, -1);
		break;
	case 0x0e: /* ^N */
		shell_history_move(sh, 1);
		break;
	case 0x0c: /* ^L */
		printf("\x1b[H\x1b[2J");
		break;
	case 0x1b:
		sh->esc = 1;
		return true;
	default:
		if ((unsigned char)ch < 0x20)
			return true;
		g_string_insert_c(sh->line, sh->cursor++, ch);
		break;
	}
	shell_redraw(sh);
	return true;
}

/* Piped input: whole lines, no echo. */
static bool shell_input_plain(struct shell *sh, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			g_string_append_c(sh->line, buf[i]);
			continue;
		}
		if (!shell_run_line(sh, sh->line->str))
			return false;
		g_string_truncate(sh->line, 0);
	}
	return true;
}

static int shell_main(struct conn *c)
{
	struct shell sh = { .conn = c };
	bool go_on = true;

	sh.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) &&
		 !tcgetattr(STDIN_FILENO, &sh.saved);
	sh.line = g_string_new(NULL);
	sh.history = g_ptr_array_new_with_free_func(g_free);
	shell_raw(&sh, true);
	shell_redraw(&sh);

	while (go_on) {
		struct pollfd pfd[2] = {
			{ .fd = STDIN_FILENO, .events = POLLIN },
			{ .fd = c->fd, .events = POLLIN },
		};
		json_object *msg = NULL;
		char buf[256];
		ssize_t n;
		int r;

		/* Events that came with a reply are already buffered. */
		while ((r = client_conn_parse(c, &msg)) > 0) {
			bool printed = shell_print(&sh, msg);

			json_object_put(msg);
			if (!printed) {
				r = -1;
				break;
			}
			shell_redraw(&sh);
		}
		if (r < 0) {
			sh.failed = true;
			break;
		}
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents) {
			n = read(c->fd, c->buf, sizeof(c->buf));
			if (n <= 0) {
				fprintf(stderr, "%stern qmp: the server closed the connection\n",
					sh.tty ? "\r\x1b[K" : "");
				break;
			}
			c->pos = 0;
			c->len = n;
			continue;
		}
		if (!pfd[0].revents)
			continue;
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* At the end, a last line without a newline runs. */
			if (!sh.tty && sh.line->len)
				shell_run_line(&sh, sh.line->str);
			break;
		}
		if (!sh.tty) {
			go_on = shell_input_plain(&sh, buf, n);
			continue;
		}
		for (ssize_t i = 0; i < n && go_on; i++)
			go_on = shell_key(&sh, buf[i]);
	}
	shell_raw(&sh, false);
	g_string_free(sh.line, TRUE);
	g_ptr_array_free(sh.history, TRUE);
	/* A terminal session ends well; a script learns of failed commands. */
	return !sh.tty && sh.failed;
}

/* The greeting, then qmp_capabilities. */
bool client_negotiate(struct conn *c, const char *path)
{
	g_autoptr(json_object) req = json_object_new_object();
	json_object *msg = NULL;

	if (client_conn_recv(c, &msg) <= 0 ||
	    client_msg_kind(msg) != CLIENT_MSG_GREETING) {
		fprintf(stderr, "tern qmp: %s: no QMP greeting\n", path);
		json_object_put(msg);
		return false;
	}
	json_object_put(msg);
	msg = NULL;
	json_object_object_add(req, "execute",
			       json_object_new_string("qmp_capabilities"));
	if (!client_conn_send(c, req))
		return false;
	do {
		json_object_put(msg);
		msg = NULL;
		if (client_conn_recv(c, &msg) <= 0) {
			fprintf(stderr, "tern qmp: %s: closed during negotiation\n", path);
			return false;
		}
	} while (client_msg_kind(msg) == CLIENT_MSG_EVENT);
	if (client_msg_kind(msg) != CLIENT_MSG_REPLY ||
	    !json_object_object_get_ex(msg, "return", NULL)) {
		g_autofree char *text = qmp_json_format(msg, false);

		fprintf(stderr, "tern qmp: %s: negotiation failed: %s\n", path, text);
		json_object_put(msg);
		return false;
	}
	json_object_put(msg);
	return true;
}

static int client_one_command(struct conn *c, char **argv, int argc)
{
	struct shell sh = { .conn = c };
	g_autoptr(json_object) req = NULL;
	g_autoptr(GError) err = NULL;
	json_object *reply = NULL;
	bool printed;
	int r;

	req = client_request_build(argv[0], argv + 1, argc - 1, &err);
	if (!req) {
		fprintf(stderr, "tern qmp: %s: %s\n", argv[0], err->message);
		return TERN_EXIT_BAD_INPUT;
	}
	if (!client_conn_send(c, req))
		return 1;
	/* Events before the reply are not what was asked for: skip them. */
	r = shell_wait_reply(&sh, &reply, false);
	if (r == 0)
		fprintf(stderr, "tern qmp: %s: the connection closed before the reply\n",
			argv[0]);
	if (r <= 0)
		return 1;
	printed = shell_print(&sh, reply);
	r = json_object_object_get_ex(reply, "error", NULL);
	json_object_put(reply);
	return r || !printed ? 1 : 0;
}

int qmp_client_main(int argc, char **argv)
{
	struct conn c;
	int status;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(client_usage, stdout);
		return 0;
	}
	if (argc < 2) {
		fputs(client_usage, stderr);
		return TERN_EXIT_BAD_INPUT;
	}
	/* A server that goes away shows as EPIPE, not as a dead client. */
	signal(SIGPIPE, SIG_IGN);
	if (!client_conn_open(&c, argv[1]))
		return TERN_EXIT_BAD_INPUT;
	if (!client_negotiate(&c, argv[1])) {
		client_conn_close(&c);
		return 1;
	}
	if (argc > 2)
		status = client_one_command(&c, argv + 2, argc - 2);
	else
		status = shell_main(&c);
	client_conn_close(&c);
	return status;
}
