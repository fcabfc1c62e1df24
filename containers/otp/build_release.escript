#!/usr/bin/env escript
%% Build the sample release with systools, one directory per version (see the make_tar pitfall in
%% the OTP reference: a relup lying next to another version's .rel ends up in the wrong tarball).
%%
%%   escript build_release.escript BUILD_DIR NAME SPEC...
%%   SPEC = Vsn | Vsn=BaseVsn (make_relup from BaseVsn) | Vsn=BaseVsn+keep (BUILD_DIR/rel/Vsn/relup is given)
%%
%% Expects BUILD_DIR/lib/NAME-Vsn/ebin (compiled, with .app and .appup). Writes
%% BUILD_DIR/rel/Vsn/{NAME-Vsn.rel,.boot,.script,relup,sys.config,NAME-Vsn.tar.gz}.
%% Prints "ok" or "error <Vsn> <step> <reason>" and exits 0/1.
-mode(compile).

main([Dir, Name | Specs]) ->
    Path = [filename:join([Dir, "lib", "*", "ebin"])],
    Erts = erlang:system_info(version),
    [application:load(A) || A <- [kernel, stdlib, sasl]],
    Vsn = fun(A) -> {ok, V} = application:get_key(A, vsn), V end,
    Core = [{kernel, Vsn(kernel)}, {stdlib, Vsn(stdlib)}, {sasl, Vsn(sasl)}],
    try
        lists:foreach(fun(S) -> build(Dir, Name, Path, Erts, Core, string:split(S, "=")) end, Specs),
        io:format("ok~n")
    catch throw:{failed, V, Step, Reason} ->
        io:format("error ~s ~s ~0p~n", [V, Step, Reason]),
        halt(1)
    end.

build(Dir, Name, Path, Erts, Core, [V | Base]) ->
    RelDir = filename:join([Dir, "rel", V]),
    ok = filelib:ensure_dir(filename:join(RelDir, "x")),
    RelName = Name ++ "-" ++ V,
    Rel = {release, {Name, V}, {erts, Erts}, Core ++ [{list_to_atom(Name), V}]},
    ok = file:write_file(filename:join(RelDir, RelName ++ ".rel"), io_lib:format("~p.~n", [Rel])),
    ok = file:write_file(filename:join(RelDir, "sys.config"), "[].\n"),
    ok = file:set_cwd(RelDir),
    check(V, make_script, systools:make_script(RelName, [{path, Path}, silent])),
    case Base of
        [] -> ok;
        [B] ->
            case string:split(B, "+") of
                [_, "keep"] -> ok;
                [BV] ->
                    BaseRel = filename:join(["..", BV, Name ++ "-" ++ BV]),
                    check(V, make_relup, systools:make_relup(RelName, [BaseRel], [BaseRel],
                                                             [{path, Path}, silent]))
            end
    end,
    check(V, make_tar, systools:make_tar(RelName, [{path, Path}, silent])).

check(_V, _Step, ok) -> ok;
check(_V, _Step, {ok, _, _, _}) -> ok;
check(_V, _Step, {ok, _, _}) -> ok;
check(V, Step, Other) -> throw({failed, V, atom_to_list(Step), Other}).
