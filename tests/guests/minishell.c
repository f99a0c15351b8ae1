/*
 * minishell: a tiny shell on the UART, at ring 3, for the specs of
 * t.execute / t.succeed (lua/luavmm/test.lua).  Prints "minishell: ready",
 * then for each line: the prompt "$ " first, the line echoed as typed (as a
 * terminal would), then its commands run.  Enough of sh for the marker
 * protocol of luavmm.test (README, "Running commands in the guest"):
 *
 *   list      items separated by ';'
 *   ( list )  a subshell: `exit N` inside ends only the subshell, status N
 *   words     'single quotes', "double quotes", $? (the last status)
 *   echo ARGS          the arguments, space-separated, and "\n"
 *   printf FMT ARGS    %s %d %% and \n \t \\ in FMT
 *   exit [N]           at the top level: the guest exits with value N
 *   true, false        status 0, 1
 * anything else prints "minishell: NAME: not found" (status 127); a syntax
 * error prints "minishell: syntax error" (status 2).
 */
#include "guest.h"

#define LINE_MAX 512
#define MAX_TOKENS 128
#define STATUS_MARK '\x01' /* a $? to expand when the command runs */

enum tok_type { WORD, SEMI, LPAREN, RPAREN };

struct tok {
	enum tok_type type;
	char *text; /* WORD: NUL-terminated, quotes removed */
};

static char line[LINE_MAX + 1];
static char words[2 * LINE_MAX + MAX_TOKENS];
static struct tok toks[MAX_TOKENS];
static uint64_t last_status;

/* Splits `s` into toks; returns the count or -1 on a syntax error. */
static int tokenize(const char *s)
{
	int n = 0;
	char *w = words;
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			return n;
		if (n == MAX_TOKENS)
			return -1;
		if (*s == ';' || *s == '(' || *s == ')') {
			toks[n++].type = *s == ';' ? SEMI : *s == '(' ? LPAREN : RPAREN;
			s++;
			continue;
		}
		toks[n].type = WORD;
		toks[n++].text = w;
		while (*s && *s != ' ' && *s != '\t' && *s != ';' && *s != '(' && *s != ')') {
			if (*s == '\'') {
				for (s++; *s && *s != '\''; s++)
					*w++ = *s;
				if (!*s++)
					return -1;
			} else if (*s == '"') {
				for (s++; *s && *s != '"'; s++) {
					if (s[0] == '$' && s[1] == '?')
						*w++ = STATUS_MARK, s++;
					else if (s[0] == '\\' && (s[1] == '"' || s[1] == '\\' || s[1] == '$'))
						*w++ = *++s;
					else
						*w++ = *s;
				}
				if (!*s++)
					return -1;
			} else if (s[0] == '$' && s[1] == '?') {
				*w++ = STATUS_MARK;
				s += 2;
			} else if (s[0] == '\\' && s[1]) {
				*w++ = s[1];
				s += 2;
			} else {
				*w++ = *s++;
			}
		}
		*w++ = '\0';
	}
}

/* Prints a word with $? expanded. */
static void put_word(const char *w)
{
	for (; *w; w++) {
		if (*w == STATUS_MARK)
			serial_put_dec(last_status);
		else
			serial_putc(*w);
	}
}

/* The word as a number ($? expanded); 0 if it is none. */
static uint64_t word_number(const char *w)
{
	uint64_t v = 0;
	if (*w == STATUS_MARK)
		return last_status;
	parse_uint(&w, &v);
	return v;
}

static void do_printf(struct tok *args, int nargs)
{
	const char *f = args[0].text;
	int next = 1;
	for (; *f; f++) {
		if (*f == '\\' && f[1]) {
			f++;
			serial_putc(*f == 'n' ? '\n' : *f == 't' ? '\t' : *f);
		} else if (*f == '%' && f[1]) {
			f++;
			if (*f == '%') {
				serial_putc('%');
			} else if (*f == 's') {
				if (next < nargs)
					put_word(args[next++].text);
			} else if (*f == 'd') {
				serial_put_dec(next < nargs ? word_number(args[next++].text) : 0);
			}
		} else if (*f == STATUS_MARK) {
			serial_put_dec(last_status);
		} else {
			serial_putc(*f);
		}
	}
}

/* Runs one simple command; returns 1 if it was `exit`. */
static int run_command(struct tok *args, int nargs)
{
	const char *name = args[0].text;
	if (str_eq(name, "echo")) {
		for (int i = 1; i < nargs; i++) {
			if (i > 1)
				serial_putc(' ');
			put_word(args[i].text);
		}
		serial_putc('\n');
		last_status = 0;
	} else if (str_eq(name, "printf") && nargs >= 2) {
		do_printf(args + 1, nargs - 1);
		last_status = 0;
	} else if (str_eq(name, "exit")) {
		if (nargs > 1)
			last_status = word_number(args[1].text) & 0xff;
		return 1;
	} else if (str_eq(name, "true")) {
		last_status = 0;
	} else if (str_eq(name, "false")) {
		last_status = 1;
	} else {
		serial_puts("minishell: ");
		put_word(name);
		serial_puts(": not found\n");
		last_status = 127;
	}
	return 0;
}

/*
 * Runs items from *pos up to a ')' or the end; with `skip` (after an exit)
 * only parses them.  Returns 1 if `exit` ran at this level, -1 on a
 * syntax error.
 */
static int run_list(int n, int *pos, int skip)
{
	int exited = 0;
	while (*pos < n && toks[*pos].type != RPAREN) {
		if (toks[*pos].type == SEMI) {
			(*pos)++;
			continue;
		}
		if (toks[*pos].type == LPAREN) {
			(*pos)++;
			if (run_list(n, pos, skip || exited) < 0 || *pos >= n || toks[*pos].type != RPAREN)
				return -1;
			(*pos)++; /* a subshell's exit ends only the subshell */
			continue;
		}
		int first = *pos;
		while (*pos < n && toks[*pos].type == WORD)
			(*pos)++;
		if (*pos < n && toks[*pos].type == LPAREN)
			return -1;
		if (!skip && !exited && run_command(&toks[first], *pos - first))
			exited = 1;
	}
	return exited;
}

static uint64_t shell(uint64_t unused)
{
	(void)unused;
	for (;;) {
		size_t len = 0;
		serial_puts("$ ");
		for (;;) {
			int c = serial_try_getc();
			if (c < 0)
				continue;
			if (c == '\r' || c == '\n') {
				serial_putc('\n');
				break;
			}
			serial_putc((char)c);
			if (len < LINE_MAX)
				line[len++] = (char)c;
		}
		line[len] = '\0';
		int n = tokenize(line), pos = 0;
		int r = n < 0 ? -1 : run_list(n, &pos, 0);
		if (r < 0 || pos < n) {
			serial_puts("minishell: syntax error\n");
			last_status = 2;
		} else if (r == 1) {
			return last_status;
		}
	}
}

uint32_t guest_main(const char *args)
{
	(void)args;
	serial_puts("minishell: ready\n");
	return (uint32_t)run_user(shell, 0);
}
