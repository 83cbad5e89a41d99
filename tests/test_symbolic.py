"""Question 6: every derivation and numeric check must hold; a wrong formula must be caught."""

import sympy as sp
import torch

from fer_report import derivations as S


def _assert_all(d: S.Derivation) -> None:
    failed = [c.claim + " " + c.detail for c in d.checks if not c.passed]
    assert d.passed and not failed, failed


def test_conv_output_shape():
    d = S.derive_conv_shape()
    _assert_all(d)
    assert int(d.formulas["n_configs"]) >= 300
    assert (
        S.conv_output_size(48, 5, 1, 2) == 48
        and S.conv_output_size(7, 3, 2, 0) == 3
        and S.conv_output_size(8, 3, 3, 1) == 3
    )


def test_batchnorm_backward():
    _assert_all(S.derive_batchnorm(ms=(2, 3, 5)))


def test_softmax_cross_entropy():
    _assert_all(S.derive_softmax_ce())


def test_the_checks_can_fail():
    # a closed form with the wrong sign on dl/dvar must not pass the SymPy comparison
    x, g, gamma, beta, eps = S.batchnorm_symbols(3)
    mu, var = sp.Symbol("mu", real=True), sp.Symbol("sigma2", nonnegative=True)
    cf = S.batchnorm_closed_forms(x, g, gamma, eps, mu, var)
    loss = sum(gi * (gamma * (xi - mu) / sp.sqrt(var + eps) + beta) for gi, xi in zip(g, x))
    assert S._is_zero(sp.diff(loss, var) - cf["d_var"])
    assert not S._is_zero(sp.diff(loss, var) + cf["d_var"])
    # and the single-term softmax derivative is not the full one for soft targets
    z, y, yhat = S.softmax_symbols(3)
    full = sp.diff(-sum(a * sp.log(b) for a, b in zip(y, yhat)), z[0])
    assert not S._is_zero(full - sp.diff(-y[0] * sp.log(yhat[0]), z[0]))


def test_closed_form_batchnorm_is_usable_as_a_layer():
    x = torch.randn(10, 4, dtype=torch.float64, requires_grad=True)
    w, b = (
        torch.ones(4, dtype=torch.float64, requires_grad=True),
        torch.zeros(4, dtype=torch.float64, requires_grad=True),
    )
    y = S.ClosedFormBatchNorm.apply(x, w, b, 1e-5)
    assert torch.allclose(y.mean(0), torch.zeros(4, dtype=torch.float64), atol=1e-12)


def test_softmax_formulas_read_as_written():
    tex = S.derive_softmax_ce(ns=(2,)).latex()
    assert tex["dL/dz_t"] == r"\frac{\partial L}{\partial z_t} = {\hat{y}}_{t} \sum_{i} y_{i} - {y}_{t}"
    assert tex["dL_t/dz_t"] == r"\frac{\partial L_t}{\partial z_t} = - {y}_{t} \left(1 - {\hat{y}}_{t}\right)"
    assert tex["gap"].endswith(r"= {\hat{y}}_{t} \sum_{i \neq t} y_{i}")
    assert not any("{i y i}" in t for t in tex.values())


def test_batchnorm_is_typeset_by_hand_and_its_compact_form_is_checked():
    d = S.derive_batchnorm(ms=(2,))
    tex = d.latex()
    assert tex == S.BATCHNORM_TEX  # every BatchNorm formula shown is the hand-typeset one
    assert r"\left(x_i - \mu_B\right)" in tex["dl/dvar"] and "-\\mu_B + x" not in "".join(tex.values())
    assert any("compact form" in c.claim and c.passed for c in d.checks)
    # a compact form off by one term would fail the same comparison
    x, g, gamma, beta, eps = S.batchnorm_symbols(3)
    mu = sum(x) / 3
    var = sum((xi - mu) ** 2 for xi in x) / 3
    loss = sum(gi * (gamma * (xi - mu) / sp.sqrt(var + eps) + beta) for gi, xi in zip(g, x))
    s = sp.Symbol("s", positive=True)
    good, wrong = S.batchnorm_compact_dx(x, g, gamma, eps)[0], S.batchnorm_compact_dx(x, g, gamma, eps)[1]
    assert S._is_zero((sp.diff(loss, x[0]) - good).subs({eps: s**2 - var}))
    assert not S._is_zero((sp.diff(loss, x[0]) - wrong).subs({eps: s**2 - var}))


def test_conv_shape_is_typeset_one_line_per_axis():
    tex = S.derive_conv_shape(n_configs=20).latex()
    assert r"W_{out} &= \left\lfloor \frac{W + 2p_1 - k_1}{s_1} \right\rfloor + 1" in tex["output shape"]
    assert r"d_1 (k_1 - 1)" in tex["with dilation"]
