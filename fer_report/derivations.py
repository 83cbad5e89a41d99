"""Question 6, derived with SymPy and checked against PyTorch's autograd.

Three results: the convolution output shape (6-1), BatchNorm's backward pass (6-2), and the
gradient of softmax with cross-entropy (6-3). Each ``derive_*`` function returns the closed forms
as SymPy expressions plus a list of :class:`Check` records: what was compared, how, and whether
it held. The math chapter renders them; the tests fail if any check fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp
import torch
from torch import nn


@dataclass
class Check:
    """One verified claim: what was compared, by which method, and the outcome.

    ``claim`` is written for the page (words, and math between dollar signs); ``size`` is the batch size
    or number of classes a symbolic check was made at, so that one claim checked at several sizes counts
    as one; ``eq`` names the equation of the math chapter that the claim backs.
    """

    claim: str
    method: str
    passed: bool
    detail: str = ""
    size: str = ""
    eq: str = ""


@dataclass
class Derivation:
    """Closed forms (name -> SymPy expression or equation) and the checks that back them."""

    title: str
    formulas: dict[str, sp.Basic] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    as_written: set[str] = field(
        default_factory=set
    )  # formulas printed in the order their terms were written

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    typeset: dict[str, str] = field(default_factory=dict)  # LaTeX written by hand, as a person would

    def latex(self) -> dict[str, str]:
        """Each formula's LaTeX: the hand-typeset form where there is one, else SymPy's printing."""
        return {
            k: self.typeset.get(k) or (sp.latex(v, order="none") if k in self.as_written else sp.latex(v))
            for k, v in self.formulas.items()
        }


def _is_zero(expr: sp.Expr) -> bool:
    """True when ``expr`` simplifies to exactly 0 (rational functions: cancel first, then simplify)."""
    e = sp.cancel(sp.together(expr))
    return e == 0 or sp.simplify(e) == 0


# --------------------------------------------------------------------------- 6-1 convolution


def conv_output_size(
    n: sp.Expr | int, k: sp.Expr | int, s: sp.Expr | int, p: sp.Expr | int, d: sp.Expr | int = 1
) -> sp.Expr:
    """Output length along one axis: floor((n + 2p - d(k - 1) - 1) / s) + 1."""
    return sp.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1


def derive_conv_shape(n_configs: int = 600, seed: int = 0) -> Derivation:
    """The output shape of Conv2D on (B, W, H, C_in), checked against nn.Conv2d on many configurations."""
    B, W, H, Cin, Cout = sp.symbols("B W H C_in C_out", positive=True, integer=True)
    k1, k2, s1, s2, d1, d2 = sp.symbols("k_1 k_2 s_1 s_2 d_1 d_2", positive=True, integer=True)
    p1, p2 = sp.symbols("p_1 p_2", nonnegative=True, integer=True)
    general = sp.Tuple(B, conv_output_size(W, k1, s1, p1, d1), conv_output_size(H, k2, s2, p2, d2), Cout)
    plain = sp.Tuple(B, sp.floor((W + 2 * p1 - k1) / s1) + 1, sp.floor((H + 2 * p2 - k2) / s2) + 1, Cout)
    out = Derivation("6-1 Convolution output shape")
    out.formulas["output shape"] = sp.Eq(sp.Symbol(r"\mathrm{shape}_{out}"), plain, evaluate=False)
    out.formulas["with dilation"] = sp.Eq(sp.Symbol(r"\mathrm{shape}_{out}"), general, evaluate=False)
    out.typeset["output shape"] = (
        r"\begin{aligned} \mathrm{shape}_{out} &= (B,\ W_{out},\ H_{out},\ C_{out}) \\ "
        r"W_{out} &= \left\lfloor \frac{W + 2p_1 - k_1}{s_1} \right\rfloor + 1 \\ "
        r"H_{out} &= \left\lfloor \frac{H + 2p_2 - k_2}{s_2} \right\rfloor + 1 \end{aligned}"
    )
    out.typeset["with dilation"] = (
        r"\begin{aligned} \text{with dilation } d_1, d_2: \quad "
        r"W_{out} &= \left\lfloor \frac{W + 2p_1 - d_1 (k_1 - 1) - 1}{s_1} \right\rfloor + 1 \\ "
        r"H_{out} &= \left\lfloor \frac{H + 2p_2 - d_2 (k_2 - 1) - 1}{s_2} \right\rfloor + 1 \end{aligned}"
    )
    same = all(sp.simplify(a.subs({d1: 1, d2: 1}) - b) == 0 for a, b in zip(general, plain))
    out.checks.append(
        Check(
            "with dilation $d = 1$ the general form reduces to the plain one",
            "SymPy: the difference simplifies to 0",
            same,
            eq="conv-out",
        )
    )

    rng = np.random.default_rng(seed)
    grid = [
        (w, h, a, b, sa, sb, pa, pb, da, db)
        for w, h in ((5, 7), (8, 8), (13, 6), (48, 48), (24, 11))
        for a, b in ((1, 1), (3, 3), (5, 5), (2, 3), (3, 1))
        for sa, sb in ((1, 1), (2, 2), (3, 2), (1, 3))
        for pa, pb in ((0, 0), (1, 1), (2, 0), (0, 3))
        for da, db in ((1, 1), (2, 1), (2, 3))
    ]
    valid = [
        g
        for g in grid
        if g[0] + 2 * g[6] >= g[8] * (g[2] - 1) + 1 and g[1] + 2 * g[7] >= g[9] * (g[3] - 1) + 1
    ]
    pick = [valid[i] for i in sorted(rng.choice(len(valid), min(n_configs, len(valid)), replace=False))]
    f = sp.lambdify((W, k1, s1, p1, d1), conv_output_size(W, k1, s1, p1, d1), "math")
    bad, uneven = [], 0
    with torch.no_grad():
        for w, h, a, b, sa, sb, pa, pb, da, db in pick:
            conv = nn.Conv2d(3, 4, (b, a), stride=(sb, sa), padding=(pb, pa), dilation=(db, da), bias=False)
            # torch is (N, C, H, W); the problem is stated as (B, W, H, C)
            got = conv(torch.zeros(2, 3, h, w)).shape
            want = (2, 4, f(h, b, sb, pb, db), f(w, a, sa, pa, da))
            uneven += (w + 2 * pa - da * (a - 1) - 1) % sa != 0
            if tuple(got) != want:
                bad.append(((w, h, a, b, sa, sb, pa, pb, da, db), tuple(got), want))
    out.checks.append(
        Check(
            f"the closed form gives `nn.Conv2d`'s output shape for {len(pick)} configurations "
            f"({uneven} where the stride does not divide evenly, dilation 1 to 3)",
            "the shapes compared exactly",
            not bad,
            f"mismatches: {bad[:3]}" if bad else f"{len(pick)} of {len(pick)} equal",
            eq="conv-dilation",
        )
    )
    out.formulas["n_configs"] = sp.Integer(len(pick))
    return out


# --------------------------------------------------------------------------- 6-2 BatchNorm


def batchnorm_symbols(m: int):
    """Symbols for a mini-batch of size m: inputs x, upstream gradients g = dl/dy, and parameters."""
    x = sp.symbols(f"x_1:{m + 1}", real=True)
    g = sp.symbols(f"g_1:{m + 1}", real=True)
    gamma, beta = sp.symbols("gamma beta", real=True)
    eps = sp.Symbol("epsilon", positive=True)
    return x, g, gamma, beta, eps


def batchnorm_closed_forms(x, g, gamma, eps, mu, var):
    """Ioffe & Szegedy (2015), Algorithm 1's backward pass, in terms of g_i = dl/dy_i."""
    m = len(x)
    inv = 1 / sp.sqrt(var + eps)
    x_hat = [(xi - mu) * inv for xi in x]
    d_xhat = [gi * gamma for gi in g]
    d_var = (
        sum(dh * (xi - mu) for dh, xi in zip(d_xhat, x))
        * sp.Rational(-1, 2)
        * (var + eps) ** sp.Rational(-3, 2)
    )
    d_mu = sum(dh * (-inv) for dh in d_xhat) + d_var * sum(-2 * (xi - mu) for xi in x) / m
    d_x = [dh * inv + d_var * 2 * (xi - mu) / m + d_mu / m for dh, xi in zip(d_xhat, x)]
    d_gamma = sum(gi * xh for gi, xh in zip(g, x_hat))
    d_beta = sum(g)
    return {
        "x_hat": x_hat,
        "d_xhat": d_xhat,
        "d_var": d_var,
        "d_mu": d_mu,
        "d_x": d_x,
        "d_gamma": d_gamma,
        "d_beta": d_beta,
    }


_D = r"\frac{\partial \ell}{\partial %s}"

# The closed forms above, typeset by hand in Ioffe and Szegedy's arrangement (Algorithm 1's backward
# pass); "dl/dx_i, compact" is the same derivative once dl/dmu_B and dl/dsigma_B^2 are substituted and
# sum_i (x_i - mu_B) = 0 is used. check_batchnorm_symbolic checks each against SymPy's derivative.
BATCHNORM_TEX = {
    "dl/dx_hat_i": _D % r"\hat{x}_i" + r" = " + _D % "y_i" + r"\, \gamma",
    "dl/dvar": _D % r"\sigma_B^2"
    + r" = -\frac{1}{2} \left(\sigma_B^2 + \epsilon\right)^{-3/2} \sum_{i=1}^{m} "
    + _D % r"\hat{x}_i"
    + r" \left(x_i - \mu_B\right)",
    "dl/dmu": _D % r"\mu_B"
    + r" = -\frac{1}{\sqrt{\sigma_B^2 + \epsilon}} \sum_{i=1}^{m} "
    + _D % r"\hat{x}_i"
    + r" - \frac{2}{m}\, "
    + _D % r"\sigma_B^2"
    + r" \sum_{i=1}^{m} \left(x_i - \mu_B\right)",
    "dl/dx_i": _D % "x_i"
    + r" = \frac{1}{\sqrt{\sigma_B^2 + \epsilon}}\, "
    + _D % r"\hat{x}_i"
    + r" + \frac{2 (x_i - \mu_B)}{m}\, "
    + _D % r"\sigma_B^2"
    + r" + \frac{1}{m}\, "
    + _D % r"\mu_B",
    "dl/dx_i, compact": _D % "x_i"
    + r" = \frac{\gamma}{m \sqrt{\sigma_B^2 + \epsilon}} \left( m\, "
    + _D % "y_i"
    + r" - \sum_{j=1}^{m} "
    + _D % "y_j"
    + r" - \hat{x}_i \sum_{j=1}^{m} "
    + _D % "y_j"
    + r"\, \hat{x}_j \right)",
    "dl/dgamma": _D % r"\gamma" + r" = \sum_{i=1}^{m} " + _D % "y_i" + r"\, \hat{x}_i",
    "dl/dbeta": _D % r"\beta" + r" = \sum_{i=1}^{m} " + _D % "y_i",
    "update": r"\gamma \leftarrow \gamma - \eta\, "
    + _D % r"\gamma"
    + r", \qquad \beta \leftarrow \beta - \eta\, "
    + _D % r"\beta",
}


def batchnorm_compact_dx(x, g, gamma, eps):
    """dl/dx_i with dl/dmu_B and dl/dsigma_B^2 substituted: gamma / (m sqrt(var + eps)) * (m g_i - sum g
    - x_hat_i sum g_j x_hat_j)."""
    m = len(x)
    mu = sum(x) / m
    var = sum((xi - mu) ** 2 for xi in x) / m
    inv = 1 / sp.sqrt(var + eps)
    x_hat = batchnorm_closed_forms(x, g, gamma, eps, mu, var)["x_hat"]
    sum_g, sum_gx = sum(g), sum(gi * h for gi, h in zip(g, x_hat))
    return [gamma * inv / m * (m * gi - sum_g - h * sum_gx) for gi, h in zip(g, x_hat)]


def check_batchnorm_symbolic(m: int) -> list[Check]:
    """Each closed form equals the derivative SymPy takes of the forward definition, for batch size m."""
    x, g, gamma, beta, eps = batchnorm_symbols(m)
    mu_s, var_s = sp.Symbol("mu", real=True), sp.Symbol("sigma2", nonnegative=True)
    checks = []
    # graph view: mu and var as nodes, as Algorithm 1 treats them
    y_graph = [gamma * (xi - mu_s) / sp.sqrt(var_s + eps) + beta for xi in x]
    l_graph = sum(gi * yi for gi, yi in zip(g, y_graph))  # any loss: dl/dy_i = g_i
    cf = batchnorm_closed_forms(x, g, gamma, eps, mu_s, var_s)
    xh = sp.symbols(f"xhat_1:{m + 1}", real=True)
    l_hat = sum(gi * (gamma * h + beta) for gi, h in zip(g, xh))
    checks.append(
        Check(
            r"$\partial \ell / \partial \hat{x}_i$",
            "SymPy's derivative; the difference simplifies to 0",
            all(_is_zero(sp.diff(l_hat, h) - d) for h, d in zip(xh, cf["d_xhat"])),
            size=f"m = {m}",
            eq="bn-dxhat",
        )
    )
    checks.append(
        Check(
            r"$\partial \ell / \partial \sigma_B^2$",
            "SymPy's derivative in the graph; the difference simplifies to 0",
            _is_zero(sp.diff(l_graph, var_s) - cf["d_var"]),
            size=f"m = {m}",
            eq="bn-dvar",
        )
    )
    var_of_mu = sum((xi - mu_s) ** 2 for xi in x) / m  # sigma^2 depends on mu: both paths count
    l_mu = l_graph.subs(var_s, var_of_mu)
    d_mu_cf = cf["d_mu"].subs(var_s, var_of_mu)
    checks.append(
        Check(
            r"$\partial \ell / \partial \mu_B$, through $\hat{x}_i$ and $\sigma_B^2$",
            "SymPy's total derivative; the difference simplifies to 0",
            _is_zero(sp.diff(l_mu, mu_s) - d_mu_cf),
            size=f"m = {m}",
            eq="bn-dmu",
        )
    )
    return checks + check_batchnorm_end_to_end(m)


def check_batchnorm_end_to_end(m: int) -> list[Check]:
    """dl/dx_i (both forms), dl/dgamma and dl/dbeta against SymPy's derivative of the whole forward pass,
    with mu_B and sigma_B^2 as functions of the batch, for batch size m."""
    x, g, gamma, beta, eps = batchnorm_symbols(m)
    checks = []
    # end to end: mu and var as functions of x; compare dl/dx_i, dl/dgamma, dl/dbeta
    mu = sum(x) / m
    var = sum((xi - mu) ** 2 for xi in x) / m
    y = [gamma * (xi - mu) / sp.sqrt(var + eps) + beta for xi in x]
    loss = sum(gi * yi for gi, yi in zip(g, y))
    cf_x = batchnorm_closed_forms(x, g, gamma, eps, mu, var)
    s = sp.Symbol("s", positive=True)  # s = sqrt(var + eps): eliminating eps makes both sides rational
    elim = {eps: s**2 - var}
    ok_x = all(_is_zero((sp.diff(loss, xi) - d).subs(elim)) for xi, d in zip(x, cf_x["d_x"]))
    checks.append(
        Check(
            r"$\partial \ell / \partial x_i$ for every $i$",
            "SymPy's derivative of the forward pass; the difference simplifies to 0",
            ok_x,
            size=f"m = {m}",
            eq="bn-dx",
        )
    )
    compact = batchnorm_compact_dx(x, g, gamma, eps)
    ok_compact = all(_is_zero((sp.diff(loss, xi) - d).subs(elim)) for xi, d in zip(x, compact))
    checks.append(
        Check(
            r"$\partial \ell / \partial x_i$, compact form, for every $i$",
            "SymPy's derivative of the forward pass; the difference simplifies to 0",
            ok_compact,
            size=f"m = {m}",
            eq="bn-dx-compact",
        )
    )
    checks.append(
        Check(
            r"$\partial \ell / \partial \gamma$ and $\partial \ell / \partial \beta$",
            "SymPy's derivative; the difference simplifies to 0",
            _is_zero((sp.diff(loss, gamma) - cf_x["d_gamma"]).subs(elim))
            and _is_zero(sp.diff(loss, beta) - cf_x["d_beta"]),
            size=f"m = {m}",
            eq="bn-dgamma",
        )
    )
    return checks


class ClosedFormBatchNorm(torch.autograd.Function):
    """BatchNorm over the batch axis whose backward is exactly the closed forms above."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> torch.Tensor:  # type: ignore[override]
        mu = x.mean(0)
        var = x.var(0, unbiased=False)
        ctx.save_for_backward(x, gamma, mu, var)
        ctx.eps = eps
        return gamma * (x - mu) / torch.sqrt(var + eps) + beta

    @staticmethod
    def backward(ctx, g: torch.Tensor):  # type: ignore[override]
        x, gamma, mu, var = ctx.saved_tensors
        m, eps = x.shape[0], ctx.eps
        inv = 1 / torch.sqrt(var + eps)
        d_xhat = g * gamma
        d_var = (d_xhat * (x - mu)).sum(0) * -0.5 * (var + eps) ** -1.5
        d_mu = (-d_xhat * inv).sum(0) + d_var * (-2 * (x - mu)).sum(0) / m
        d_x = d_xhat * inv + d_var * 2 * (x - mu) / m + d_mu / m
        return d_x, (g * (x - mu) * inv).sum(0), g.sum(0), None


def check_batchnorm_autograd(seed: int = 0) -> list[Check]:
    """The closed forms against finite differences (gradcheck) and nn.BatchNorm1d/2d in training mode."""
    torch.manual_seed(seed)
    checks = []
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    gamma = torch.randn(3, dtype=torch.float64, requires_grad=True)
    beta = torch.randn(3, dtype=torch.float64, requires_grad=True)
    ok = torch.autograd.gradcheck(
        lambda a, b, c: ClosedFormBatchNorm.apply(a, b, c, 1e-5), (x, gamma, beta), eps=1e-6, atol=1e-8
    )
    checks.append(
        Check(
            "the backward pass written from the closed forms agrees with finite differences",
            "`torch.autograd.gradcheck` in double precision, tolerance $10^{-8}$",
            bool(ok),
            eq="bn-dx",
        )
    )
    ok = torch.autograd.gradcheck(nn.BatchNorm1d(3).double().train(), (x,), eps=1e-6, atol=1e-8)
    checks.append(
        Check(
            "`nn.BatchNorm1d`'s own backward pass agrees with finite differences (training mode), so that "
            "it can serve as the reference below",
            "`torch.autograd.gradcheck` in double precision",
            bool(ok),
        )
    )

    checks += check_batchnorm_layers()

    # the update rule: one plain gradient step is gamma - lr * dl/dgamma
    bn = nn.BatchNorm1d(5).double().train()
    opt = torch.optim.SGD(bn.parameters(), lr=0.1)
    xt = torch.randn(16, 5, dtype=torch.float64)
    before = bn.weight.detach().clone(), bn.bias.detach().clone()
    (bn(xt) ** 2).mean().backward()
    grads = bn.weight.grad.clone(), bn.bias.grad.clone()
    opt.step()
    ok = torch.allclose(bn.weight, before[0] - 0.1 * grads[0]) and torch.allclose(
        bn.bias, before[1] - 0.1 * grads[1]
    )
    checks.append(
        Check(
            r"one step of `torch.optim.SGD` moves $\gamma$ and $\beta$ by $-\eta$ times their gradients",
            "`torch.optim.SGD` in double precision",
            ok,
            eq="bn-update",
        )
    )
    return checks


def check_batchnorm_layers() -> list[Check]:
    """The closed forms against nn.BatchNorm1d's and nn.BatchNorm2d's autograd in training mode."""
    checks = []
    for name, shape, bn in (
        ("BatchNorm1d", (16, 5), nn.BatchNorm1d(5)),
        ("BatchNorm2d", (8, 4, 5, 5), nn.BatchNorm2d(4)),
    ):
        bn = bn.double().train()
        with torch.no_grad():
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
        xt = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
        up = torch.randn(*shape, dtype=torch.float64)
        (bn(xt) * up).sum().backward()
        # BatchNorm2d normalises each channel over (N, H, W): move channels last and flatten
        c = shape[1]
        xf = xt.detach().movedim(1, -1).reshape(-1, c).requires_grad_()
        gf, bf = bn.weight.detach().clone().requires_grad_(), bn.bias.detach().clone().requires_grad_()
        yf = ClosedFormBatchNorm.apply(xf, gf, bf, bn.eps)
        (yf * up.movedim(1, -1).reshape(-1, c)).sum().backward()
        dx = xf.grad.reshape(*[shape[0], *shape[2:], c]).movedim(-1, 1)
        err = max(
            (dx - xt.grad).abs().max().item(),
            (gf.grad - bn.weight.grad).abs().max().item(),
            (bf.grad - bn.bias.grad).abs().max().item(),
        )
        checks.append(
            Check(
                r"the closed forms of $\partial \ell / \partial x_i$, $\partial \ell / \partial \gamma$ "
                r"and $\partial \ell / \partial \beta$ equal PyTorch's autograd (training mode)",
                r"double precision, largest difference under $10^{-10}$",
                err < 1e-10,
                f"largest difference {err:.1e}",
                size=f"nn.{name}",
                eq="bn-dx",
            )
        )

    return checks


def derive_batchnorm(ms: tuple[int, ...] = (2, 3, 4)) -> Derivation:
    out = Derivation("6-2 BatchNorm backward pass")
    out.typeset.update(BATCHNORM_TEX)
    out.formulas.update({k: sp.Symbol(k) for k in BATCHNORM_TEX})  # shown as typeset
    for m in ms:
        out.checks.extend(check_batchnorm_symbolic(m))
    out.checks.extend(check_batchnorm_autograd())
    return out


# --------------------------------------------------------------------------- 6-3 softmax + cross-entropy


def softmax_symbols(n: int):
    z = sp.symbols(f"z_1:{n + 1}", real=True)
    y = sp.symbols(f"y_1:{n + 1}", nonnegative=True)
    denom = sum(sp.exp(zi) for zi in z)
    yhat = [sp.exp(zi) / denom for zi in z]
    return z, y, yhat


def check_softmax_symbolic(n: int, t: int = 0) -> list[Check]:
    z, y, yhat = softmax_symbols(n)
    loss = -sum(yi * sp.log(h) for yi, h in zip(y, yhat))
    d_full = sp.diff(loss, z[t])
    checks = [
        Check(
            r"$\partial L / \partial z_t$ for any targets $y$",
            "SymPy's derivative; the difference simplifies to 0",
            _is_zero(sp.expand_log(d_full - (yhat[t] * sum(y) - y[t]), force=True)),
            size=f"n = {n}",
            eq="sm-grad",
        )
    ]
    on_simplex = {y[-1]: 1 - sum(y[:-1])}
    checks.append(
        Check(
            r"with targets that sum to 1, $\partial L / \partial z_t = \hat{y}_t - y_t$",
            r"SymPy, with $y_n$ replaced by one minus the others",
            _is_zero((d_full - (yhat[t] - y[t])).subs(on_simplex)),
            size=f"n = {n}",
            eq="sm-simplex",
        )
    )
    d_single = sp.diff(-y[t] * sp.log(yhat[t]), z[t])
    checks.append(
        Check(
            r"the derivative of the single term $L_t$",
            "SymPy's derivative; the difference simplifies to 0",
            _is_zero(d_single - (-y[t] * (1 - yhat[t]))),
            size=f"n = {n}",
            eq="sm-single",
        )
    )
    gap = sum(y[i] for i in range(n) if i != t) * yhat[t]
    checks.append(
        Check(
            r"the two derivatives differ by $\hat{y}_t \sum_{i \neq t} y_i$",
            "SymPy; the difference simplifies to 0",
            _is_zero(d_full - d_single - gap),
            size=f"n = {n}",
            eq="sm-gap",
        )
    )
    onehot_t = {yi: (1 if i == t else 0) for i, yi in enumerate(y)}
    onehot_k = {yi: (1 if i == (t + 1) % n else 0) for i, yi in enumerate(y)}
    checks.append(
        Check(
            r"for a one-hot target at class $t$ both give $\hat{y}_t - 1$",
            "SymPy, the target substituted",
            _is_zero((d_full - d_single).subs(onehot_t))
            and _is_zero(d_single.subs(onehot_t) - (yhat[t] - 1)),
            size=f"n = {n}",
            eq="sm-gap",
        )
    )
    checks.append(
        Check(
            r"for a one-hot target at another class, $\partial L / \partial z_t = \hat{y}_t$ while the "
            r"single term's derivative is 0",
            "SymPy, the target substituted",
            _is_zero(d_full.subs(onehot_k) - yhat[t]) and d_single.subs(onehot_k) == 0,
            size=f"n = {n}",
            eq="sm-gap",
        )
    )
    return checks


def check_softmax_general_n() -> list[Check]:
    """For a symbolic number of classes n: chain rule through the softmax Jacobian, summed by SymPy."""
    n = sp.Symbol("n", integer=True, positive=True)
    i, t = sp.symbols("i t", integer=True, positive=True)
    y, yh = sp.IndexedBase("y"), sp.IndexedBase("yhat")
    # dL/dyhat_i = -y_i / yhat_i and dyhat_i/dz_t = yhat_i (delta_it - yhat_t), so their product is:
    terms = sp.Sum(-y[i] * (sp.KroneckerDelta(i, t) - yh[t]), (i, 1, n)).doit()
    terms = sp.refine(terms, sp.Q.le(t, n))
    ok = _is_zero(terms - (yh[t] * sp.Sum(y[i], (i, 1, n)) - y[t]))
    checks = []
    for m in (2, 3, 5):
        z, _, yhat = softmax_symbols(m)
        jac = all(
            _is_zero(sp.diff(yhat[a], z[b]) - yhat[a] * ((1 if a == b else 0) - yhat[b]))
            for a in range(m)
            for b in range(m)
        )
        checks.append(
            Check(
                r"the softmax's derivatives $\partial \hat{y}_i / \partial z_t$, every $i$ and $t$",
                "SymPy's derivative; the difference simplifies to 0",
                jac,
                size=f"n = {m}",
                eq="sm-jacobian",
            )
        )
    checks.append(
        Check(
            r"the chain rule's sum over every output, for any number of classes",
            r"SymPy's `Sum` with a Kronecker delta, for a symbolic $n$",
            ok,
            size="any $n$",
            eq="sm-grad",
        )
    )
    return checks


def check_softmax_autograd(seed: int = 0) -> list[Check]:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(32, 7, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.rand(32, 7, dtype=torch.float64, generator=g)
    y = y / y.sum(1, keepdim=True)  # soft targets on the simplex
    torch.nn.functional.cross_entropy(z, y, reduction="sum").backward()
    err = (z.grad - (z.softmax(1) - y)).abs().max().item()
    checks = [
        Check(
            r"the gradient of `F.cross_entropy` with respect to the logits is $\hat{y} - y$ for soft targets "
            "that sum to 1",
            r"PyTorch's autograd in double precision, largest difference under $10^{-12}$",
            err < 1e-12,
            f"largest difference {err:.1e}",
            size="n = 7",
            eq="sm-simplex",
        )
    ]
    zt = z.detach().clone().requires_grad_()
    t = 3
    single = -(y[:, t] * zt.log_softmax(1)[:, t]).sum()
    single.backward()
    want = -y[:, t] * (1 - zt.softmax(1)[:, t])
    err = (zt.grad[:, t] - want).abs().max().item()
    checks.append(
        Check(
            r"autograd of the single term $L_t$ gives its derivative",
            "PyTorch's autograd in double precision",
            err < 1e-12,
            f"largest difference {err:.1e}",
            size="n = 7",
            eq="sm-single",
        )
    )
    labels = torch.randint(0, 7, (32,), generator=g)
    zl = z.detach().clone().requires_grad_()
    torch.nn.functional.cross_entropy(zl, labels, reduction="sum").backward()
    onehot = torch.nn.functional.one_hot(labels, 7).double()
    err = (zl.grad - (zl.softmax(1) - onehot)).abs().max().item()
    checks.append(
        Check(
            r"with hard labels (one-hot $y$) the gradient is $\hat{y} - y$",
            "PyTorch's autograd in double precision",
            err < 1e-12,
            f"largest difference {err:.1e}",
            size="n = 7",
            eq="sm-simplex",
        )
    )
    return checks


def derive_softmax_ce(ns: tuple[int, ...] = (2, 3, 5)) -> Derivation:
    out = Derivation("6-3 Softmax and cross-entropy")
    t, i = sp.symbols("t i", integer=True)
    yh, y = sp.IndexedBase(r"\hat{y}"), sp.IndexedBase("y")
    lhs, lhs_t = (
        sp.Symbol(r"\frac{\partial L}{\partial z_t}"),
        sp.Symbol(r"\frac{\partial L_t}{\partial z_t}"),
    )
    sum_y, sum_others = (
        sp.Symbol(r"\sum_{i} y_{i}"),
        sp.Symbol(r"\sum_{i \neq t} y_{i}"),
    )  # braces: one symbol, not subscripts
    out.formulas["dL/dz_t"] = sp.Eq(
        lhs, sp.Add(sp.Mul(yh[t], sum_y, evaluate=False), -y[t], evaluate=False), evaluate=False
    )
    out.formulas["dL/dz_t on the simplex"] = sp.Eq(lhs, yh[t] - y[t], evaluate=False)
    out.formulas["dL_t/dz_t"] = sp.Eq(lhs_t, sp.Mul(-y[t], 1 - yh[t], evaluate=False), evaluate=False)
    out.formulas["gap"] = sp.Eq(
        sp.Symbol(r"\frac{\partial L}{\partial z_t} - \frac{\partial L_t}{\partial z_t}"),
        sp.Mul(yh[t], sum_others, evaluate=False),
        evaluate=False,
    )
    out.as_written |= {"dL/dz_t", "dL_t/dz_t", "gap"}
    out.checks.extend(check_softmax_general_n())
    for n in ns:
        out.checks.extend(check_softmax_symbolic(n))
    out.checks.extend(check_softmax_autograd())
    return out


def verify_all() -> list[Derivation]:
    """Every derivation of question 6 with its checks (about half a minute on a laptop CPU)."""
    return [derive_conv_shape(), derive_batchnorm(), derive_softmax_ce()]


__all__ = [
    "Check",
    "Derivation",
    "conv_output_size",
    "derive_conv_shape",
    "derive_batchnorm",
    "derive_softmax_ce",
    "ClosedFormBatchNorm",
    "verify_all",
]
