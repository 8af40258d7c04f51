# Checks the fragment maps of the 16-head MLA kernel on an FP8 cache (operands widened in registers)
# (src/backend/cuda/mla_attention_small_regs.cu) without a GPU: it emulates
# mma.sync m16n8k16 per lane with the kernel's shared-memory layout, load
# addresses, byte permutes, key mask map and epilogue map, checks S = Q K^T
# and O = P V against plain products, and counts bank conflicts per load.
# Keep it in step with the kernel's index formulas. Run: python3 scripts/check_mla_small_regs_maps.py
import numpy as np
rng=np.random.default_rng(1)
L=576; Dv=512; KEYS=32; H=16
K=rng.integers(-8,8,size=(KEYS,L)).astype(np.int64)  # e4m3 "values" per key/dim
Q=rng.integers(-8,8,size=(H,L)).astype(np.int64)
def swz(r,j): return r*640 + ((j ^ ((((r>>2)&3)<<1)|(r&1)))<<4)
# smem bytes: store value index per byte address
smem={}
for r in range(KEYS):
    for j in range(36):
        for b in range(16):
            smem[swz(r,j)+b]=(r, 16*j+b)
assert len(set(smem.keys()))==KEYS*576
def lds32(addr): return [smem[addr+i] for i in range(4)]
def mma(C, Afr, Bfr):  # Afr[lane]=[a0,a1,a2,a3] each a pair of values; Bfr[lane]=[b0,b1]
    A=np.zeros((16,16),np.int64); B=np.zeros((16,8),np.int64)
    for lane in range(32):
        g,q=lane>>2,lane&3
        a=Afr[lane]; b=Bfr[lane]
        A[g,2*q:2*q+2]=a[0]; A[g+8,2*q:2*q+2]=a[1]; A[g,2*q+8:2*q+10]=a[2]; A[g+8,2*q+8:2*q+10]=a[3]
        B[2*q:2*q+2,g]=b[0]; B[2*q+8:2*q+10,g]=b[1]
    D=A@B
    for lane in range(32):
        g,q=lane>>2,lane&3
        C[lane]+=np.array([D[g,2*q],D[g,2*q+1],D[g+8,2*q],D[g+8,2*q+1]])
# S for each warp
S=np.zeros((H,KEYS),np.int64)
bank_conf=0
for warp in range(4):
    sacc=[[np.zeros(4,np.int64) for _ in range(32)] for _ in range(4)]
    for i in range(9):
        j=4*i+warp
        Afr=[]
        for lane in range(32):
            g,q=lane>>2,lane&3
            d=16*j+4*q
            Afr.append([Q[g,d:d+2],Q[g+8,d:d+2],Q[g,d+2:d+4],Q[g+8,d+2:d+4]])
        for nt in range(4):
            Bfr=[]; banks={}
            for lane in range(32):
                g,q=lane>>2,lane&3
                r=16*(nt>>1)+4*(g>>1)+2*(nt&1)+(g&1)
                addr=swz(r,j)+4*q
                # the kernel's split form: per-lane s_off[i & 1] + constants
                c=warp^g; srow=640*(4*(g>>1)+(g&1))+4*q
                s_off=[srow+16*c, srow+16*(c^4)]
                assert addr==s_off[i&1]+128*(i>>1)+640*(16*(nt>>1)+2*(nt&1)), (warp,i,nt,lane)
                banks.setdefault((addr//4)%32,set()).add(addr//4)
                w=lds32(addr)
                vals=[K[rr,dd] for rr,dd in w]
                Bfr.append([np.array(vals[0:2]),np.array(vals[2:4])])
            bank_conf=max(bank_conf,max(len(v) for v in banks.values()))
            C=sacc[nt]; mma(C,Afr,Bfr)
    for nt in range(4):
        for lane in range(32):
            g,q=lane>>2,lane&3
            for e in range(4):
                row=g+8*(e>>1); key=16*(nt>>1)+4*q+2*(nt&1)+(e&1)
                S[row,key]+=sacc[nt][lane][e]
print("S ok", np.array_equal(S, Q@K.T), "S bank max ways", bank_conf)
# PV
P=rng.integers(-4,4,size=(H,KEYS)).astype(np.int64)
O=np.zeros((H,Dv),np.int64); bank_conf=0
for warp in range(4):
    o=[[np.zeros(4,np.int64) for _ in range(32)] for _ in range(16)]
    for kk in range(2):
        Afr=[]
        for lane in range(32):
            g,q=lane>>2,lane&3
            # pa[nt][0] = P[g][logical keys of S n-tile nt cols 2q,2q+1] ; physical keys:
            def pk(nt,e): return 16*(nt>>1)+4*q+2*(nt&1)+e
            pa=lambda nt,row: np.array([P[row,pk(nt,0)],P[row,pk(nt,1)]])
            Afr.append([pa(2*kk,g),pa(2*kk,g+8),pa(2*kk+1,g),pa(2*kk+1,g+8)])
        for pp in range(4):
            Bs=[[None]*4 for _ in range(32)]
            banks_r=[{} for _ in range(4)]
            for lane in range(32):
                g,q=lane>>2,lane&3
                j=8*warp+2*pp+(g>>2); off=4*(g&3)
                w=[]
                vrow=640*4*q+128*warp+4*(g&3)
                v_off=[vrow+16*(g>>2), vrow+16*((g>>2)^1)]
                for r in range(4):
                    addr=swz(16*kk+4*q+r,j)+off
                    assert addr==v_off[r&1]+32*(pp^q)+640*(16*kk+r), (warp,kk,pp,r,lane)
                    banks_r[r].setdefault((addr//4)%32,set()).add(addr//4)
                    w.append(lds32(addr))
                # byte i of word r -> (key, dim)
                for i in range(4):
                    k01=[w[0][i],w[1][i]]; k23=[w[2][i],w[3][i]]
                    Bs[lane][i]=[np.array([K[a,b] for a,b in k01]),np.array([K[a,b] for a,b in k23])]
                    # check dims equal
                    assert len({b for a,b in k01+k23})==1
            for br in banks_r: bank_conf=max(bank_conf,max(len(v) for v in br.values()))
            for i in range(4):
                mma(o[4*pp+i],Afr,[Bs[l][i] for l in range(32)])
    for pp in range(4):
        for lane in range(32):
            g,q=lane>>2,lane&3
            for k in range(8):
                col=warp*128+pp*32+8*q+k
                O[g,col]+=o[4*pp+(k&3)][lane][k>>2]
                O[g+8,col]+=o[4*pp+(k&3)][lane][2+(k>>2)]
print("PV ok", np.array_equal(O, P@K[:,:Dv]), "PV bank max ways", bank_conf)
