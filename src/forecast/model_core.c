/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Model construction: default parameters, parameter checks and the layers. The
 * cdnopt_params set built here is the single list of weights that training,
 * sampling and model files all use.
 */
#include "model-impl.h"

#include <math.h>
#include <string.h>

cdnopt_model_params cdnopt_model_params_default(void)
{
    /* seasonal_lag is off because it made held-out day-ahead forecasts worse on both
     * 5-minute ISP series tried (figures in cdnopt/model.h and docs/benchmarks.md). */
    return (cdnopt_model_params){
        .arch = CDNOPT_ARCH_RESIDUAL_LSTM,
        .window = 0,
        .units = 64,
        .dropout = 0.3f,
        .calendar = true,
        .seasonal_lag = false,
        .batch = 64,
        .learning_rate = 1e-3f,
        .epochs = 20,
        .val_fraction = 0.1f,
        .patience = 3,
        .clip_norm = 1.0f,
        .d_model = 128,
        .n_head = 4,
        .max_windows = 0,
        .seed = 1,
        .head = CDNOPT_HEAD_RECURSIVE,
        .horizon = 0,
        .base = CDNOPT_BASE_SEASONAL,
    };
}

static int check_head(const cdnopt_model_params *p, int64_t step_s, char *err)
{
    if (p->head != CDNOPT_HEAD_RECURSIVE && p->head != CDNOPT_HEAD_DIRECT)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid model head %d; expected 1 (recursive) or 2 (direct)",
                           (int)p->head);
    if (p->head == CDNOPT_HEAD_RECURSIVE)
        return CDNOPT_OK;

    if (p->arch != CDNOPT_ARCH_RESIDUAL_LSTM)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "the direct head needs the residual LSTM; use the recursive head "
                           "with the transformer");
    if (p->horizon < 0 || p->horizon > 100000)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid horizon %d steps; use 1..100000, or 0 for one day",
                           p->horizon);
    if (p->base != CDNOPT_BASE_LAST && p->base != CDNOPT_BASE_SEASONAL)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid head base %d; expected 1 (last value) or 2 (seasonal)",
                           (int)p->base);

    /* The seasonal base reads the day before each target from the window. */
    int64_t steps_per_day = MODEL_SECONDS_PER_DAY / step_s;
    int64_t window = p->window == 0 ? steps_per_day : p->window;
    if (p->base == CDNOPT_BASE_SEASONAL && window < steps_per_day)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "window of %lld steps is shorter than one day (%lld steps), which "
                           "the seasonal base of the direct head needs; lengthen the window "
                           "or use the last-value base", (long long)window,
                           (long long)steps_per_day);
    return CDNOPT_OK;
}

static int check_params(const cdnopt_model_params *p, int64_t step_s, char *err)
{
    if (p->arch != CDNOPT_ARCH_RESIDUAL_LSTM && p->arch != CDNOPT_ARCH_TRANSFORMER)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid model arch %d; expected 1 (residual LSTM) or 2 (transformer)",
                           (int)p->arch);
    if (p->arch == CDNOPT_ARCH_TRANSFORMER &&
        (p->d_model < 1 || p->d_model > 4096 || p->n_head < 1 || p->d_model % p->n_head != 0))
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid d_model %d or n_head %d; use 1..4096 with n_head dividing "
                           "d_model", p->d_model, p->n_head);
    if (step_s <= 0 || step_s > MODEL_SECONDS_PER_DAY || MODEL_SECONDS_PER_DAY % step_s != 0)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid series step %lld s; the model needs a step that divides "
                           "one day (86400 s)", (long long)step_s);
    if (p->window < 0 || p->window > 100000)
        return cdnopt_fail(err, CDNOPT_EINVAL,
                           "invalid window %d steps; use 1..100000, or 0 for one day", p->window);
    if (p->units < 1 || p->units > 4096)
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid units %d; use 1..4096", p->units);
    if (!(p->dropout >= 0.0f && p->dropout < 1.0f))
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid dropout %g; use a rate in [0, 1)",
                           (double)p->dropout);
    if (p->batch < 1 || p->batch > 65536)
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid batch %d; use 1..65536", p->batch);
    if (!(p->learning_rate > 0.0f && isfinite(p->learning_rate)))
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid learning_rate %g; use a positive value",
                           (double)p->learning_rate);
    if (p->epochs < 1)
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid epochs %d; use 1 or more", p->epochs);
    if (!(p->val_fraction >= 0.0f && p->val_fraction < 0.9f))
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid val_fraction %g; use [0, 0.9)",
                           (double)p->val_fraction);
    if (p->patience < 1)
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid patience %d; use 1 or more", p->patience);
    if (!(p->clip_norm >= 0.0f && isfinite(p->clip_norm)))
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid clip_norm %g; use 0 (off) or a positive "
                           "value", (double)p->clip_norm);
    int rc = check_head(p, step_s, err);
    if (rc != CDNOPT_OK)
        return rc;
    if (p->max_windows < 0)
        return cdnopt_fail(err, CDNOPT_EINVAL, "invalid max_windows %d; use 0 (all) or more",
                           p->max_windows);
    return CDNOPT_OK;
}

static int build_layers(cdnopt_model *m)
{
    cdnopt_rng rng;
    cdnopt_rng_seed(&rng, m->p.seed);
    size_t h = (size_t)m->p.units;

    int rc = cdnopt_params_new(&m->ps);
    if (rc != CDNOPT_OK)
        return rc;

    /* The nn constructors draw Keras-style initial values: Glorot-uniform kernels,
     * orthogonal recurrent kernels, zero biases with a forget-gate bias of 1. */
    cdnopt_lstm_params lp = cdnopt_lstm_params_default();
    lp.n_in = (size_t)m->n_features;
    lp.n_hidden = h;
    lp.return_sequences = true;
    lp.name = "lstm1";
    rc = cdnopt_lstm_new(m->ps, &lp, &rng, &m->lstm1);
    if (rc != CDNOPT_OK)
        return rc;

    if (m->p.arch == CDNOPT_ARCH_TRANSFORMER) {
        rc = cdnopt__attn_build_layers(m, &rng);
    } else {
        lp.n_in = h;
        lp.return_sequences = false;
        lp.name = "lstm2";
        rc = cdnopt_lstm_new(m->ps, &lp, &rng, &m->lstm2);
    }
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_dense_params dp = cdnopt_dense_params_default();
    dp.n_in = cdnopt__model_mask2_width(m);
    dp.n_out = (size_t)m->n_out;
    dp.name = "dense";
    rc = cdnopt_dense_new(m->ps, &dp, &rng, &m->head);
    if (rc != CDNOPT_OK || m->p.head != CDNOPT_HEAD_DIRECT)
        return rc;

    /* A zero direct head makes an untrained model forecast exactly its base. */
    const char *names[] = {"dense/kernel", "dense/bias"};
    for (size_t i = 0; i < 2; i++) {
        cdnopt_param_tensor t;
        if (cdnopt_params_find(m->ps, names[i], &t) == CDNOPT_OK)
            memset(cdnopt_params_values(m->ps) + t.offset, 0,
                   t.n_rows * t.n_cols * sizeof(float));
    }
    return CDNOPT_OK;
}

int cdnopt__model_build(const cdnopt_model_params *p, int64_t step_s, cdnopt_model **out,
                        char *err)
{
    *out = NULL;
    int rc = check_params(p, step_s, err);
    if (rc != CDNOPT_OK)
        return rc;

    cdnopt_model *m = cdnopt_calloc(1, sizeof *m);
    if (m == NULL)
        return cdnopt_fail(err, CDNOPT_ENOMEM, "out of memory allocating a model");

    m->p = *p;
    m->step_s = step_s;
    m->steps_per_day = (int)(MODEL_SECONDS_PER_DAY / step_s);
    if (m->p.window == 0)
        m->p.window = m->steps_per_day;
    m->n_features = 1 + (p->calendar ? 4 : 0) + (p->seasonal_lag ? 1 : 0);
    if (m->p.head == CDNOPT_HEAD_DIRECT && m->p.horizon == 0)
        m->p.horizon = m->steps_per_day;
    m->n_out = m->p.head == CDNOPT_HEAD_DIRECT ? m->p.horizon : 1;
    m->scale_min = 0.0;
    m->scale_max = 1.0;
    m->info.best_val_loss = NAN;
    m->info.last_train_loss = NAN;
    m->info.shrink = 1.0;

    rc = build_layers(m);
    if (rc != CDNOPT_OK) {
        cdnopt_model_free(m);
        return cdnopt_fail(err, rc, "cannot build the model's layers: %s", cdnopt_strerror(rc));
    }
    *out = m;
    return CDNOPT_OK;
}

int cdnopt_model_new(const cdnopt_model_params *p, int64_t step_s, cdnopt_model **out, char *err)
{
    return cdnopt__model_build(p, step_s, out, err);
}

void cdnopt__model_clear_resume(cdnopt_model *m)
{
    cdnopt_free(m->resume.storage);
    memset(&m->resume, 0, sizeof m->resume);
}

void cdnopt_model_free(cdnopt_model *m)
{
    if (m == NULL)
        return;

    cdnopt__model_clear_resume(m);
    cdnopt_dense_free(m->head);
    cdnopt_mha_free(m->mha);
    cdnopt_dense_free(m->proj);
    cdnopt_lstm_free(m->lstm2);
    cdnopt_lstm_free(m->lstm1);
    cdnopt_params_free(m->ps);
    cdnopt_free(m);
}

const cdnopt_model_params *cdnopt_model_get_params(const cdnopt_model *m) { return &m->p; }

int64_t cdnopt_model_step_s(const cdnopt_model *m) { return m->step_s; }

int cdnopt_model_set_unit(cdnopt_model *m, const char *unit)
{
    if (strlen(unit) >= sizeof m->unit)
        return CDNOPT_EINVAL;
    strcpy(m->unit, unit);
    return CDNOPT_OK;
}

const char *cdnopt_model_unit(const cdnopt_model *m) { return m->unit; }

size_t cdnopt_model_history_min(const cdnopt_model *m) { return cdnopt__model_first_target(m); }

void cdnopt_model_training_range(const cdnopt_model *m, double *min, double *max)
{
    *min = m->scale_min;
    *max = m->scale_max;
}
