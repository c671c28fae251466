/*
 * Streams the Balabit Mouse Dynamics Challenge sessions through the kinetype C API.
 *
 * Usage: balabit_stream DATA_DIR ENROL_USERS BACKGROUND_USERS TEST_SESSIONS
 *
 * DATA_DIR is the folder with training_files/, test_files/ and public_labels.csv. Users are
 * the folders of training_files/ in byte order. The first ENROL_USERS users enrol on their
 * training sessions; the first training session of each of the next BACKGROUND_USERS users
 * becomes a background session. Then the first TEST_SESSIONS test sessions (in byte order)
 * of each enrolled user are streamed in batches and decided. Output lines:
 *
 *   enrol USER threshold=T impostor_allow=R genuine_allow=G
 *   decide USER SESSION label=L verdict=V reason=R trust=T window=W mouse_actions=N
 *
 * W is the window statistic, or `none` before a window has filled.
 *
 * Each session file is read as the kinetype Balabit loader reads it. Exact duplicate
 * consecutive rows and rows at the 65535,65535 sentinel are dropped. Drag rows get the
 * button held since the last press, and the client timestamp (seconds) becomes time_ms.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinetype.h"

/* Events per ingest call while streaming a session. */
#define BATCH_EVENTS 500
/* Exit code for bad data or a failed call. */
#define FAILED 1

static const uint8_t SECRET[] = "balabit-stream-example-secret-32";

/* Prints the status, its name and the last error message, and returns FAILED. */
static int report_failure(const char *what, kinetype_status status) {
    size_t needed = 0;
    char *message = NULL;
    if (kinetype_last_error_message(NULL, 0, &needed) == KINETYPE_STATUS_BUFFER_TOO_SMALL) {
        message = malloc(needed);
    }
    if (message == NULL ||
        kinetype_last_error_message(message, needed, &needed) != KINETYPE_STATUS_OK) {
        free(message);
        message = NULL;
    }
    fprintf(stderr, "%s failed: %s: %s\n", what, kinetype_status_name(status),
            message ? message : "(no message)");
    free(message);
    return FAILED;
}

/* A growable list of strings. */
typedef struct {
    char **items;
    size_t len;
    size_t cap;
} string_list;

static int string_list_push(string_list *list, const char *text) {
    if (list->len == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        char **items = realloc(list->items, cap * sizeof *items);
        if (items == NULL) {
            return FAILED;
        }
        list->items = items;
        list->cap = cap;
    }
    list->items[list->len] = strdup(text);
    if (list->items[list->len] == NULL) {
        return FAILED;
    }
    list->len++;
    return 0;
}

static void string_list_free(string_list *list) {
    for (size_t i = 0; i < list->len; i++) {
        free(list->items[i]);
    }
    free(list->items);
    list->items = NULL;
    list->len = list->cap = 0;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the entries of `dir` other than "." and "..", sorted in byte order. */
static int list_dir(const char *dir, string_list *out) {
    DIR *handle = opendir(dir);
    if (handle == NULL) {
        fprintf(stderr, "cannot list %s: %s\n", dir, strerror(errno));
        return FAILED;
    }
    struct dirent *entry;
    int failed = 0;
    while (!failed && (entry = readdir(handle)) != NULL) {
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
            failed = string_list_push(out, entry->d_name);
        }
    }
    closedir(handle);
    qsort(out->items, out->len, sizeof *out->items, compare_strings);
    return failed;
}

/* Reads a whole file into a NUL-terminated buffer that the caller frees. */
static char *read_file(const char *path) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    while (text != NULL) {
        if (len + 1 == cap) {
            char *bigger = realloc(text, cap * 2);
            if (bigger == NULL) {
                free(text);
                text = NULL;
                break;
            }
            text = bigger;
            cap *= 2;
        }
        size_t got = fread(text + len, 1, cap - 1 - len, file);
        len += got;
        if (got == 0) {
            text[len] = '\0';
            break;
        }
    }
    fclose(file);
    return text;
}

/* A growable array of mouse events. */
typedef struct {
    kinetype_mouse_event *items;
    size_t len;
    size_t cap;
} event_list;

static int event_list_push(event_list *list, kinetype_mouse_event event) {
    if (list->len == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 1024;
        kinetype_mouse_event *items = realloc(list->items, cap * sizeof *items);
        if (items == NULL) {
            return FAILED;
        }
        list->items = items;
        list->cap = cap;
    }
    list->items[list->len++] = event;
    return 0;
}

/* Maps a button and state onto kinetype's enums; returns 0 for a pair the format lacks. */
static int button_state(const char *button, const char *state, uint32_t *out_button,
                        uint32_t *out_kind) {
    if (strcmp(button, "Scroll") == 0) {
        *out_button = KINETYPE_MOUSE_BUTTON_NONE;
        *out_kind = KINETYPE_MOUSE_KIND_SCROLL;
        return strcmp(state, "Up") == 0 || strcmp(state, "Down") == 0;
    }
    if (strcmp(button, "NoButton") == 0) {
        *out_button = KINETYPE_MOUSE_BUTTON_NONE;
    } else if (strcmp(button, "Left") == 0) {
        *out_button = KINETYPE_MOUSE_BUTTON_LEFT;
    } else if (strcmp(button, "Right") == 0) {
        *out_button = KINETYPE_MOUSE_BUTTON_RIGHT;
    } else if (strcmp(button, "Middle") == 0) {
        *out_button = KINETYPE_MOUSE_BUTTON_MIDDLE;
    } else if (strcmp(button, "XButton") == 0) {
        *out_button = KINETYPE_MOUSE_BUTTON_OTHER;
    } else {
        return 0;
    }
    int none = *out_button == KINETYPE_MOUSE_BUTTON_NONE;
    if (strcmp(state, "Move") == 0 && none) {
        *out_kind = KINETYPE_MOUSE_KIND_MOVE;
    } else if (strcmp(state, "Drag") == 0) {
        *out_kind = KINETYPE_MOUSE_KIND_DRAG;
    } else if (strcmp(state, "Pressed") == 0 && !none) {
        *out_kind = KINETYPE_MOUSE_KIND_PRESS;
    } else if (strcmp(state, "Released") == 0 && !none) {
        *out_kind = KINETYPE_MOUSE_KIND_RELEASE;
    } else {
        return 0;
    }
    return 1;
}

/* Parses a finite number that fills the whole field. */
static int parse_number(const char *text, double *out) {
    char *end = NULL;
    errno = 0;
    *out = strtod(text, &end);
    return end != text && *end == '\0' && errno == 0;
}

/* Reads one session file into `events`. */
static int load_session(const char *path, event_list *events) {
    char *text = read_file(path);
    if (text == NULL) {
        return FAILED;
    }
    int failed = 0;
    const char *previous = NULL;
    int held = 0;
    uint32_t held_button = KINETYPE_MOUSE_BUTTON_NONE;
    size_t line_number = 0;
    char *save = NULL;
    /* strtok_r skips empty lines, as the Rust loader does. */
    for (char *line = strtok_r(text, "\n", &save); line != NULL && !failed;
         line = strtok_r(NULL, "\n", &save)) {
        line_number++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r') {
            line[len - 1] = '\0';
        }
        if (line[0] == '\0') {
            continue;
        }
        if (line_number == 1) {
            if (strcmp(line, "record timestamp,client timestamp,button,state,x,y") != 0) {
                fprintf(stderr, "%s: unexpected header\n", path);
                failed = FAILED;
            }
            continue;
        }
        if (previous != NULL && strcmp(previous, line) == 0) {
            continue; /* exact duplicate of the row before */
        }
        previous = line;
        char row[256];
        if (strlen(line) >= sizeof row) {
            fprintf(stderr, "%s:%zu: line longer than 255 bytes\n", path, line_number);
            failed = FAILED;
            break;
        }
        strcpy(row, line);
        char *fields[6];
        size_t count = 0;
        char *field_save = NULL;
        for (char *f = strtok_r(row, ",", &field_save); f != NULL && count < 6;
             f = strtok_r(NULL, ",", &field_save)) {
            fields[count++] = f;
        }
        double record_s, client_s, x, y;
        uint32_t button, kind;
        if (count != 6 || !parse_number(fields[0], &record_s) ||
            !parse_number(fields[1], &client_s) || !parse_number(fields[4], &x) ||
            !parse_number(fields[5], &y) || !button_state(fields[2], fields[3], &button, &kind)) {
            fprintf(stderr, "%s:%zu: malformed row\n", path, line_number);
            failed = FAILED;
            break;
        }
        if (x == 65535.0 && y == 65535.0) {
            continue; /* cursor position unknown */
        }
        if (kind == KINETYPE_MOUSE_KIND_PRESS) {
            held = 1;
            held_button = button;
        } else if (kind == KINETYPE_MOUSE_KIND_RELEASE) {
            held = 0;
        } else if (kind == KINETYPE_MOUSE_KIND_DRAG && button == KINETYPE_MOUSE_BUTTON_NONE &&
                   held) {
            button = held_button;
        }
        kinetype_mouse_event event = {
            .time_ms = client_s * 1000.0, .x_px = x, .y_px = y, .button = button, .kind = kind};
        failed = event_list_push(events, event);
    }
    free(text);
    return failed;
}

/* Looks up a test session's label in public_labels.csv text: 1 illegal, 0 legal, -1 none. */
static int label_of(const char *labels, const char *session) {
    size_t len = strlen(session);
    for (const char *at = strstr(labels, session); at != NULL; at = strstr(at + 1, session)) {
        int line_start = at == labels || at[-1] == '\n';
        if (line_start && at[len] == ',') {
            return at[len + 1] == '1' ? 1 : 0;
        }
    }
    return -1;
}

static const char *verdict_name(kinetype_verdict verdict) {
    switch (verdict) {
    case KINETYPE_VERDICT_ALLOW: return "allow";
    case KINETYPE_VERDICT_STEP_UP: return "step-up";
    case KINETYPE_VERDICT_DENY: return "deny";
    default: return "unknown";
    }
}

static const char *reason_name(kinetype_reason reason) {
    switch (reason) {
    case KINETYPE_REASON_TRUST_ABOVE_THRESHOLD: return "trust-above-threshold";
    case KINETYPE_REASON_NOT_ENOUGH_RECENT_EVIDENCE: return "not-enough-recent-evidence";
    case KINETYPE_REASON_TRUST_BELOW_THRESHOLD: return "trust-below-threshold";
    case KINETYPE_REASON_LOCKED_OUT: return "locked-out";
    case KINETYPE_REASON_REPLAY: return "replay";
    case KINETYPE_REASON_SYNTHETIC_INPUT: return "synthetic-input";
    default: return "unknown";
    }
}

/* Ingests `events` into a session in batches of BATCH_EVENTS. */
static int stream(const kinetype_engine *engine, const char *user, uint64_t session,
                  const event_list *events) {
    for (size_t start = 0; start < events->len; start += BATCH_EVENTS) {
        size_t len = events->len - start < BATCH_EVENTS ? events->len - start : BATCH_EVENTS;
        kinetype_status status =
            kinetype_engine_ingest_mouse(engine, user, session, events->items + start, len);
        if (status != KINETYPE_STATUS_OK) {
            return report_failure("kinetype_engine_ingest_mouse", status);
        }
    }
    return 0;
}

/* Builds "a/b/c" into `out`. */
static int join(char *out, size_t size, const char *a, const char *b, const char *c) {
    int n = c ? snprintf(out, size, "%s/%s/%s", a, b, c) : snprintf(out, size, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "path %s/%s longer than %zu bytes\n", a, b, size - 1);
        return FAILED;
    }
    return 0;
}

static int add_background(const kinetype_engine *engine, const char *training, const char *user) {
    char dir[4096], path[4096];
    string_list sessions = {0};
    event_list events = {0};
    int failed = join(dir, sizeof dir, training, user, NULL) || list_dir(dir, &sessions);
    if (!failed && sessions.len == 0) {
        fprintf(stderr, "%s has no sessions\n", dir);
        failed = FAILED;
    }
    if (!failed) {
        failed = join(path, sizeof path, dir, sessions.items[0], NULL) ||
                 load_session(path, &events);
    }
    if (!failed) {
        kinetype_status status =
            kinetype_engine_add_background_session(engine, NULL, 0, events.items, events.len);
        if (status != KINETYPE_STATUS_OK) {
            failed = report_failure("kinetype_engine_add_background_session", status);
        }
    }
    free(events.items);
    string_list_free(&sessions);
    return failed;
}

static int enrol(const kinetype_engine *engine, const char *training, const char *user,
                 uint64_t *next_session) {
    char dir[4096], path[4096];
    string_list sessions = {0};
    int failed = join(dir, sizeof dir, training, user, NULL) || list_dir(dir, &sessions);
    kinetype_status status = KINETYPE_STATUS_OK;
    if (!failed && (status = kinetype_engine_begin_enrolment(engine, user)) != KINETYPE_STATUS_OK) {
        failed = report_failure("kinetype_engine_begin_enrolment", status);
    }
    kinetype_enrolment_status progress = {0};
    for (size_t i = 0; !failed && i < sessions.len; i++) {
        event_list events = {0};
        uint64_t session = (*next_session)++;
        failed = join(path, sizeof path, dir, sessions.items[i], NULL) ||
                 load_session(path, &events) || stream(engine, user, session, &events);
        free(events.items);
        if (!failed) {
            status = kinetype_engine_enrolment_status(engine, user, &progress);
            if (status != KINETYPE_STATUS_OK) {
                failed = report_failure("kinetype_engine_enrolment_status", status);
            } else if (progress.state == KINETYPE_ENROLMENT_STATE_READY_TO_TRAIN) {
                break;
            }
        }
    }
    kinetype_enrolment_report report;
    if (!failed && (status = kinetype_engine_finish_enrolment(engine, user, &report)) !=
                       KINETYPE_STATUS_OK) {
        failed = report_failure("kinetype_engine_finish_enrolment", status);
    }
    if (!failed) {
        printf("enrol %s threshold=%.6f impostor_allow=%.6f genuine_allow=%.6f\n", user,
               report.allow_threshold, report.impostor_allow_rate, report.genuine_allow_rate);
    }
    string_list_free(&sessions);
    return failed;
}

static int test_user(const kinetype_engine *engine, const char *test_dir, const char *labels,
                     const char *user, size_t max_sessions, uint64_t *next_session) {
    char dir[4096], path[4096];
    string_list sessions = {0};
    int failed = join(dir, sizeof dir, test_dir, user, NULL) || list_dir(dir, &sessions);
    for (size_t i = 0; !failed && i < sessions.len && i < max_sessions; i++) {
        event_list events = {0};
        uint64_t session = (*next_session)++;
        failed = join(path, sizeof path, dir, sessions.items[i], NULL) ||
                 load_session(path, &events) || stream(engine, user, session, &events);
        free(events.items);
        kinetype_decision decision;
        kinetype_status status = KINETYPE_STATUS_OK;
        if (!failed &&
            (status = kinetype_engine_decide(engine, user, session, &decision)) !=
                KINETYPE_STATUS_OK) {
            failed = report_failure("kinetype_engine_decide", status);
        }
        if (!failed) {
            char window[32] = "none";
            if (decision.score.has_window) {
                snprintf(window, sizeof window, "%.6f", decision.score.window);
            }
            printf("decide %s %s label=%d verdict=%s reason=%s trust=%.6f window=%s "
                   "mouse_actions=%llu\n",
                   user, sessions.items[i], label_of(labels, sessions.items[i]),
                   verdict_name(decision.verdict), reason_name(decision.reason),
                   decision.score.trust, window,
                   (unsigned long long)decision.score.mouse.actions);
            status = kinetype_engine_end_session(engine, user, session);
            if (status != KINETYPE_STATUS_OK) {
                failed = report_failure("kinetype_engine_end_session", status);
            }
        }
    }
    string_list_free(&sessions);
    return failed;
}

static int parse_count(const char *text, size_t *out) {
    char *end = NULL;
    unsigned long value = strtoul(text, &end, 10);
    if (end == text || *end != '\0') {
        fprintf(stderr, "`%s` is not a count\n", text);
        return FAILED;
    }
    *out = value;
    return 0;
}

int main(int argc, char **argv) {
    size_t enrol_users, background_users, test_sessions;
    if (argc != 5 || parse_count(argv[2], &enrol_users) ||
        parse_count(argv[3], &background_users) || parse_count(argv[4], &test_sessions)) {
        fprintf(stderr,
                "usage: %s DATA_DIR ENROL_USERS BACKGROUND_USERS TEST_SESSIONS\n"
                "DATA_DIR holds training_files/, test_files/ and public_labels.csv\n",
                argv[0]);
        return 2;
    }
    char training[4096], test_dir[4096], labels_path[4096];
    if (join(training, sizeof training, argv[1], "training_files", NULL) ||
        join(test_dir, sizeof test_dir, argv[1], "test_files", NULL) ||
        join(labels_path, sizeof labels_path, argv[1], "public_labels.csv", NULL)) {
        return FAILED;
    }
    if (kinetype_abi_version() != KINETYPE_ABI_VERSION) {
        fprintf(stderr,
                "kinetype: the linked library has C ABI version %u, but this program was "
                "compiled against version %u; rebuild it against the library's header\n",
                (unsigned)kinetype_abi_version(), (unsigned)KINETYPE_ABI_VERSION);
        return FAILED;
    }
    printf("kinetype %s\n", kinetype_version());

    kinetype_config config;
    kinetype_status status = kinetype_config_default(&config);
    if (status != KINETYPE_STATUS_OK) {
        return report_failure("kinetype_config_default", status);
    }
    config.secret = SECRET;
    config.secret_len = sizeof SECRET - 1;
    config.use_keyboard = false;
    kinetype_engine *engine = NULL;
    status = kinetype_engine_new(&config, &engine);
    if (status != KINETYPE_STATUS_OK) {
        return report_failure("kinetype_engine_new", status);
    }

    string_list users = {0};
    char *labels = read_file(labels_path);
    int failed = labels == NULL || list_dir(training, &users);
    if (!failed && enrol_users + background_users > users.len) {
        fprintf(stderr, "%zu users requested but %s has %zu\n", enrol_users + background_users,
                training, users.len);
        failed = FAILED;
    }
    for (size_t i = enrol_users; !failed && i < enrol_users + background_users; i++) {
        failed = add_background(engine, training, users.items[i]);
    }
    uint64_t next_session = 1;
    for (size_t i = 0; !failed && i < enrol_users; i++) {
        failed = enrol(engine, training, users.items[i], &next_session);
    }
    for (size_t i = 0; !failed && i < enrol_users; i++) {
        failed = test_user(engine, test_dir, labels, users.items[i], test_sessions, &next_session);
    }

    string_list_free(&users);
    free(labels);
    kinetype_engine_free(engine);
    return failed;
}
