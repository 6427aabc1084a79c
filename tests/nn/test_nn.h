/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared pieces of the nn suite: the leak check every case runs under and the
 * gradient-check cases defined in test_nn_grad.c.
 */
#ifndef CDNOPT_TEST_NN_H
#define CDNOPT_TEST_NN_H

/* Setup stores cdnopt_alloc_live_blocks(); teardown fails the case when it changed. */
int leak_setup(void **state);
int leak_teardown(void **state);

void dense_gradients(void **state);
void dense_no_bias_gradients(void **state);
void lstm_sequence_gradients(void **state);
void lstm_last_state_gradients(void **state);
void dropout_fixed_mask_gradients(void **state);
void mha_gradients(void **state);
void mha_causal_gradients(void **state);
void layernorm_gradients(void **state);
void mse_gradients(void **state);
void stacked_lstm_dense_gradients(void **state);
void layers_out_of_memory(void **state);
void lstm_training_reduces_loss(void **state);

#endif
