/* buf.c: growable buffers, JSON strings, time formatting. */
#include "shim.h"

void buf_grow(struct buf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + n)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

void buf_add(struct buf *b, const void *p, size_t n)
{
	buf_grow(b, n + 1);
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
}

void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

void buf_ch(struct buf *b, char c) { buf_add(b, &c, 1); }

void buf_int(struct buf *b, long v)
{
	char t[24];
	buf_add(b, t, (size_t)fmt_int(t, v));
}

void buf_free(struct buf *b)
{
	xfree(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = 0;
}

/* utf8_len returns the length of the valid UTF-8 sequence at s (0 if it
 * is not one). */
static int utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	int len;
	unsigned min;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		len = 2, min = 0x80, c &= 0x1f;
	else if ((c & 0xf0) == 0xe0)
		len = 3, min = 0x800, c &= 0x0f;
	else if ((c & 0xf8) == 0xf0)
		len = 4, min = 0x10000, c &= 0x07;
	else
		return 0;
	if ((size_t)len > n)
		return 0;
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return len;
}

void buf_json_str(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	buf_grow(b, n + 3);
	buf_ch(b, '"');
	size_t i = 0;
	while (i < n) {
		unsigned c = p[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
			size_t j = i;
			while (j < n && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' && p[j] != '\\' && p[j] != '<' &&
			       p[j] != '>' && p[j] != '&')
				j++;
			buf_add(b, s + i, j - i);
			i = j;
			continue;
		}
		if (c >= 0x80) {
			int l = utf8_len(p + i, n - i);
			if (l == 0) {
				buf_str(b, "\\ufffd");
				i++;
			} else {
				buf_add(b, s + i, (size_t)l);
				i += (size_t)l;
			}
			continue;
		}
		switch (c) {
		case '"': buf_str(b, "\\\""); break;
		case '\\': buf_str(b, "\\\\"); break;
		case '\n': buf_str(b, "\\n"); break;
		case '\r': buf_str(b, "\\r"); break;
		case '\t': buf_str(b, "\\t"); break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			buf_add(b, u, 6);
		}
		}
		i++;
	}
	buf_ch(b, '"');
}

static void pad(struct buf *b, long v, int width)
{
	char t[24];
	int n = fmt_int(t, v);
	for (int i = n; i < width; i++)
		buf_ch(b, '0');
	buf_add(b, t, (size_t)n);
}

void buf_time(struct buf *b, const struct timespec *ts)
{
	if (ts->tv_sec == 0 && ts->tv_nsec == 0) {
		buf_str(b, "\"0001-01-01T00:00:00Z\"");
		return;
	}
	long secs = ts->tv_sec;
	long days = secs / 86400, rem = secs % 86400;
	if (rem < 0)
		rem += 86400, days--;
	/* civil_from_days (Howard Hinnant) */
	long z = days + 719468;
	long era = (z >= 0 ? z : z - 146096) / 146097;
	long doe = z - era * 146097;
	long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long y = yoe + era * 400;
	long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long mp = (5 * doy + 2) / 153;
	long d = doy - (153 * mp + 2) / 5 + 1;
	long m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	buf_ch(b, '"');
	pad(b, y, 4);
	buf_ch(b, '-');
	pad(b, m, 2);
	buf_ch(b, '-');
	pad(b, d, 2);
	buf_ch(b, 'T');
	pad(b, rem / 3600, 2);
	buf_ch(b, ':');
	pad(b, rem / 60 % 60, 2);
	buf_ch(b, ':');
	pad(b, rem % 60, 2);
	if (ts->tv_nsec) {
		/* RFC 3339 with trailing zeros trimmed, as Go writes it */
		char t[10];
		long ns = ts->tv_nsec;
		for (int i = 8; i >= 0; i--, ns /= 10)
			t[i] = (char)('0' + ns % 10);
		int n = 9;
		while (n > 0 && t[n - 1] == '0')
			n--;
		buf_ch(b, '.');
		buf_add(b, t, (size_t)n);
	}
	buf_str(b, "Z\"");
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void put_utf8(struct buf *out, unsigned c)
{
	char u[4];
	if (c < 0x80) {
		buf_ch(out, (char)c);
	} else if (c < 0x800) {
		u[0] = (char)(0xc0 | (c >> 6));
		u[1] = (char)(0x80 | (c & 0x3f));
		buf_add(out, u, 2);
	} else {
		u[0] = (char)(0xe0 | (c >> 12));
		u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (char)(0x80 | (c & 0x3f));
		buf_add(out, u, 3);
	}
}

int json_string_field(const char *line, size_t n, const char *key, struct buf *out)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i + kl + 3 < n; i++) {
		if (line[i] != '"' || memcmp(line + i + 1, key, kl) != 0 || line[i + 1 + kl] != '"')
			continue;
		size_t j = i + kl + 2;
		while (j < n && (line[j] == ' ' || line[j] == ':'))
			j++;
		if (j >= n || line[j] != '"')
			continue;
		j++;
		buf_reset(out);
		while (j < n && line[j] != '"') {
			char c = line[j++];
			if (c != '\\' || j >= n) {
				buf_ch(out, c);
				continue;
			}
			c = line[j++];
			switch (c) {
			case 'n': buf_ch(out, '\n'); break;
			case 't': buf_ch(out, '\t'); break;
			case 'r': buf_ch(out, '\r'); break;
			case 'b': buf_ch(out, '\b'); break;
			case 'f': buf_ch(out, '\f'); break;
			case 'u': {
				unsigned v = 0;
				int ok = j + 4 <= n;
				for (int k = 0; ok && k < 4; k++) {
					int h = hexval(line[j + (size_t)k]);
					if (h < 0)
						ok = 0;
					v = v * 16 + (unsigned)h;
				}
				if (ok) {
					j += 4;
					put_utf8(out, v);
				}
				break;
			}
			default: buf_ch(out, c);
			}
		}
		if (!out->p)
			buf_add(out, "", 0);
		return 0;
	}
	return -1;
}

/* go_duration formats ns as Go's time.Duration.String does. */
void go_duration(struct buf *b, long ns)
{
	if (ns == 0) {
		buf_str(b, "0s");
		return;
	}
	if (ns < 1000000000L) {
		const char *unit = "ns";
		long div = 1;
		if (ns >= 1000000)
			unit = "ms", div = 1000000;
		else if (ns >= 1000)
			unit = "µs", div = 1000;
		buf_int(b, ns / div);
		long frac = ns % div;
		if (frac) {
			char t[12];
			int w = 0;
			for (long d = div; d > 1; d /= 10)
				w++;
			for (int i = w - 1; i >= 0; i--, frac /= 10)
				t[i] = (char)('0' + frac % 10);
			while (w > 0 && t[w - 1] == '0')
				w--;
			buf_ch(b, '.');
			buf_add(b, t, (size_t)w);
		}
		buf_str(b, unit);
		return;
	}
	long h = ns / 3600000000000L;
	ns %= 3600000000000L;
	long m = ns / 60000000000L;
	ns %= 60000000000L;
	if (h) {
		buf_int(b, h);
		buf_ch(b, 'h');
	}
	if (h || m) {
		buf_int(b, m);
		buf_ch(b, 'm');
	}
	buf_int(b, ns / 1000000000L);
	long frac = ns % 1000000000L;
	if (frac) {
		char t[9];
		for (int i = 8; i >= 0; i--, frac /= 10)
			t[i] = (char)('0' + frac % 10);
		int w = 9;
		while (w > 0 && t[w - 1] == '0')
			w--;
		buf_ch(b, '.');
		buf_add(b, t, (size_t)w);
	}
	buf_ch(b, 's');
}

long now_ms(void)
{
	struct timespec ts;
	clock_now(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void now_real(struct timespec *ts) { clock_now(CLOCK_REALTIME, ts); }
